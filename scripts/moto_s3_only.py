"""moto's S3 backend alone, for the OSS-protocol tests.

moto picks a backend per request from the Authorization header's credential scope; an OSS
V4 signature names the service "oss", which moto does not know, and such requests fail
with HTTP 500 at random. Every request here is S3 (OSS's object API is S3-shaped), so this
dispatcher always answers with the S3 backend.

usage: python moto_s3_only.py HOST PORT
"""

import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class S3Only(DomainDispatcherApplication):
    def get_application(self, environ):
        with self.lock:
            app = self.app_instances.get("s3")
            if app is None:
                app = self.create_app("s3")
                self.app_instances["s3"] = app
            return app


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, S3Only(create_backend_app), threaded=True)
