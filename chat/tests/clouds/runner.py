"""A tiny function runner, as a FaaS platform hosts handlers behind an HTTP trigger.

    python runner.py MODULE

imports MODULE (a file beside this one), listens on 127.0.0.1 (a free port), prints
`ready <port>`, and serves `POST /<name>`: the JSON body is the event, the handler
`MODULE.<name>(event, context)` runs, and its return value goes back as JSON (`null` for
None) with status 200. A handler that raises answers as Lambda's Invoke API reports an
error: 200 with `X-Amz-Function-Error: Unhandled` and `{"errorMessage", "errorType",
"stackTrace"}`.
Handlers run on threads, so one may call back into the gateway while another waits.
"""

import importlib
import json
import sys
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Context:
    """The few context attributes handlers read."""

    def __init__(self, name):
        self.function_name = name
        self.aws_request_id = str(uuid.uuid4())
        self.request_id = self.aws_request_id


def serve(module):
    class Invoke(BaseHTTPRequestHandler):
        def do_POST(self):
            name = self.path.strip("/")
            handler = getattr(module, name, None)
            length = int(self.headers.get("Content-Length", 0))
            event = json.loads(self.rfile.read(length) or b"null")
            if handler is None:
                self.answer(404, {"error": f"no handler {name}"})
                return
            try:
                result = handler(event, Context(name))
            except Exception as error:  # a failed invocation, as Lambda's Invoke API says it
                failure = {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "stackTrace": traceback.format_tb(error.__traceback__),
                }
                self.answer(200, failure, {"X-Amz-Function-Error": "Unhandled"})
                return
            self.answer(200, result)

        def answer(self, status, body, headers=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            for header, value in (headers or {}).items():
                self.send_header(header, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Invoke)
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    serve(importlib.import_module(sys.argv[1]))
