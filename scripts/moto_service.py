"""One of moto's backends alone on a port: S3 (for the OSS-protocol tests) or DynamoDB.

moto picks a backend per request from the Authorization header's credential scope; an OSS
V4 signature names the service "oss", which moto does not know, and such requests fail
with HTTP 500 at random. Every request on this port goes to the one backend named.

DynamoDB requests are served one at a time: moto's DynamoDB backend is not safe under
concurrent requests (a conditional write checks, then writes, with no lock between; a
failed TransactWriteItems restores a copy of the whole table taken before it, discarding
writes that landed meanwhile). DynamoDB itself serialises writes per item, so serving one
request at a time is a faithful, slower model of it.

An OSS V1 signature ("OSS <key>:<base64>") that happens to hold the letters "AWS4" made
moto take it for SigV4 and fail to read a region from it (IndexError, HTTP 500, on every
retry of that request, whose signature stays the same within its second). moto checks no
signature, so those letters are hidden from it in any Authorization that is not SigV4.

usage: python moto_service.py s3|dynamodb HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class OneService(DomainDispatcherApplication):
    def __init__(self, service):
        super().__init__(create_backend_app)
        self.service = service

    def get_application(self, environ):
        with self.lock:
            app = self.app_instances.get(self.service)
            if app is None:
                app = self.create_app(self.service)
                self.app_instances[self.service] = app
            return app


class NoStraySigV4:
    """Hides "AWS4" inside an Authorization header that is not SigV4 (see above)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if "AWS4" in auth and not auth.startswith("AWS4-"):
            environ["HTTP_AUTHORIZATION"] = auth.replace("AWS4", "AWS_")
        return self.app(environ, start_response)


class Serial:
    """Runs one request at a time through `app`, body included."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.app(environ, start_response))


if __name__ == "__main__":
    service, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if service not in ("s3", "dynamodb"):
        sys.exit(f"unknown service {service!r}: s3 or dynamodb")
    app = OneService(service)
    app = NoStraySigV4(app)
    if service == "dynamodb":
        app = Serial(app)
    run_simple(host, port, app, threaded=True)
