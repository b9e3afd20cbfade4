"""The published anonymous chat on Alibaba API Gateway + Function Compute + OSS: its three
FC event functions, written the way Alibaba's documentation shows event functions (the
event arrives as bytes and is API Gateway's FC event JSON; the return is the
`{isBase64Encoded, statusCode, body}` answer) and the published chat has them:

- `register` (API websocket_register): the device (`x-ca-deviceid`) becomes an object in
  the bucket;
- `clean` (websocket_clean, UNREGISTER): its object goes (it returns nothing, as published);
- `send` (websocket_send, a normal HTTP API the client POSTs each line to): the line
  (the base64 body) goes to every other device through the notify API (`/notify`), each
  call signed by Alibaba's API Gateway signing client for Python with the app's key; a
  device whose notify is not 200 is deleted.

Changed from the published code, as a user moving it here would: the bucket is a directory
(BUCKET_DIR) instead of OSS, and the notify host, port and app key come from the
environment (NOTIFY_HOST, NOTIFY_PORT, APP_KEY, APP_SECRET). The signing client's own
`execute` always dials port 80 and keeps no header but Accept, so (like the copy the
published chat carries) the function lets it build the signed headers, adds the device id
after signing, and sends the request itself.
"""

import base64
import http.client
import json
import os

from com.aliyun.api.gateway.sdk import client
from com.aliyun.api.gateway.sdk.common import constant
from com.aliyun.api.gateway.sdk.http import request


class Bucket:
    """The OSS bucket's part the chat uses: put, delete, list keys."""

    def __init__(self, folder):
        self.folder = folder

    def put_object(self, key, content):
        with open(os.path.join(self.folder, key), "w") as f:
            f.write(content)

    def delete_object(self, key):
        try:
            os.remove(os.path.join(self.folder, key))
        except FileNotFoundError:
            pass

    def keys(self):
        return sorted(os.listdir(self.folder))


def bucket():
    return Bucket(os.environ["BUCKET_DIR"])


def register(event, context):
    evt = json.loads(event.decode("utf-8"))
    user_id = evt["headers"]["x-ca-deviceid"]
    bucket().put_object(user_id, "user-id")
    return {"isBase64Encoded": "false", "statusCode": "200", "body": {"userId": user_id}}


def clean(event, context):
    evt = json.loads(event.decode("utf-8"))
    user_id = evt["headers"]["x-ca-deviceid"]
    bucket().delete_object(user_id)


def notify(gateway, req, device):
    headers = gateway.build_headers(req)
    headers["x-ca-deviceid"] = device
    connection = http.client.HTTPConnection(
        os.environ["NOTIFY_HOST"], int(os.environ["NOTIFY_PORT"]), timeout=10
    )
    try:
        connection.request(req.get_method(), req.get_url(), req.get_body(), headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def send(event, context):
    evt = json.loads(event.decode("utf-8"))
    user_id = evt["headers"]["x-ca-deviceid"]
    message = base64.b64decode(evt["body"]).decode("utf-8")
    gateway = client.DefaultClient(
        app_key=os.environ["APP_KEY"], app_secret=os.environ["APP_SECRET"]
    )
    chat = bucket()
    for key in chat.keys():
        if key == user_id:
            continue
        req = request.Request(
            host="http://" + os.environ["NOTIFY_HOST"],
            protocol=constant.HTTP,
            url="/notify",
            method="POST",
            time_out=30000,
        )
        req.set_body(json.dumps({"from": user_id, "message": message}).encode("utf-8"))
        req.set_content_type(constant.CONTENT_TYPE_STREAM)
        status = notify(gateway, req, key)
        print(f"notify {key}: {status}", flush=True)
        if status != 200:
            chat.delete_object(key)
    return {"isBase64Encoded": "false", "statusCode": "200", "body": {"status": "ok"}}
