"""A stand-in for Function Compute's event functions, as API Gateway invokes them.

    python fc_runtime.py MODULE [MODULE...]

imports each MODULE (a file beside this one; it is the *service*), listens on 127.0.0.1 (a
free port), prints `ready <port>`, and serves Function Compute's invoke API (2016-08-15):

    POST /2016-08-15/services/<MODULE>/functions/<name>/invocations

The body is the event, handed as bytes to `MODULE.<name>(event, context)` (Python event
functions' signature). The return goes back as FC's Python runtime sends it: a str as it
is, bytes as they are, anything else as JSON, None as an empty body. A function that raises
answers 200 with `X-Fc-Error-Type: UnhandledInvocationError` and
`{"errorMessage","errorType","stackTrace"}`, as FC reports an error; an unknown function
404 `FunctionNotFound`.

Stdin lines `env KEY=VALUE` set an environment variable the functions read (they learn the
gateway's address after it started); each is answered `ok`.
"""

import importlib
import json
import os
import sys
import threading
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Function:
    def __init__(self, service, name):
        self.name = name
        self.handler = f"{service}.{name}"
        self.memory = 128
        self.timeout = 10


class Service:
    def __init__(self, name):
        self.name = name
        self.log_project = ""
        self.log_store = ""
        self.qualifier = "LATEST"
        self.version_id = ""


class Credentials:
    def __init__(self):
        self.access_key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
        self.access_key_secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
        self.security_token = ""


class Context:
    """The context attributes FC's Python runtime documents."""

    def __init__(self, service, name):
        self.request_id = str(uuid.uuid4())
        self.function = Function(service, name)
        self.service = Service(service)
        self.credentials = Credentials()
        self.region = "cn-hangzhou"
        self.account_id = "0"


PREFIX = "/2016-08-15/services/"


def serve(modules):
    class Invoke(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            event = self.rfile.read(length)
            parts = self.path.split("?")[0]
            parts = parts[len(PREFIX):].split("/") if parts.startswith(PREFIX) else []
            if len(parts) != 4 or parts[1] != "functions" or parts[3] != "invocations":
                return self.answer(404, {"errorCode": "NotFound", "errorMessage": self.path})
            service, name = parts[0], parts[2]
            function = getattr(modules.get(service), name, None)
            if not callable(function):
                message = f"function {service}/{name} not found"
                return self.answer(404, {"errorCode": "FunctionNotFound", "errorMessage": message})
            context = Context(service, name)
            try:
                returned = function(event, context)
            except Exception as error:
                failure = {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "stackTrace": [list(map(str, frame)) for frame in traceback.extract_tb(error.__traceback__)],
                }
                return self.answer(200, failure, {"X-Fc-Error-Type": "UnhandledInvocationError"})
            self.answer(200, returned, {"X-Fc-Request-Id": context.request_id})

        def answer(self, status, returned, headers=None):
            if returned is None:
                body = b""
            elif isinstance(returned, bytes):
                body = returned
            elif isinstance(returned, str):
                body = returned.encode()
            else:
                body = json.dumps(returned).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Invoke)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"ready {server.server_address[1]}", flush=True)
    for line in sys.stdin:
        command, _, rest = line.strip().partition(" ")
        if command == "env":
            key, _, value = rest.partition("=")
            os.environ[key] = value
            print("ok", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    serve({name: importlib.import_module(name) for name in sys.argv[1:]})
