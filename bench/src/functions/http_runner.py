"""The HTTP-function path's runner for `bench functions`: a Python handler behind a
keep-alive HTTP/1.1 server, as a FaaS platform's HTTP trigger hosts one.

    python http_runner.py DIR MODULE.FUNCTION

prints `ready <port>`, then answers every POST with the handler's return value as JSON.
"""

import importlib
import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    sys.path.insert(0, sys.argv[1])
    module_name, function_name = sys.argv[2].rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)

    class Invoke(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            # The head and the body go out in two writes: without this, Nagle's algorithm
            # holds the body until the client's delayed ACK (40 ms a call).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            event = json.loads(self.rfile.read(length) or b"null")
            data = json.dumps(handler(event, None)).encode()
            self.send_response(200)
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
    main()
