"""FC event functions for the edges of the FC backend (beside the published chat's):

- `echo`: answers the event it got (so a test reads the event API Gateway's format gives);
- `refuse`: a register backend that refuses a device whose id starts with `banned` (403);
- `crash`: raises (FC reports an unhandled error: the gateway answers 502);
- `malformed`: returns something that is no API answer (the gateway answers 503);
- `binary`: answers a base64 body with a header, numbers and booleans as such.
"""

import json


def echo(event, context):
    return {"isBase64Encoded": False, "statusCode": 200, "body": json.loads(event)}


def refuse(event, context):
    device = json.loads(event)["headers"]["x-ca-deviceid"]
    status = 403 if device.startswith("banned") else 200
    return {"isBase64Encoded": "false", "statusCode": str(status), "body": ""}


def crash(event, context):
    raise RuntimeError("the function broke")


def malformed(event, context):
    return {"status": "fine"}


def binary(event, context):
    return {
        "isBase64Encoded": True,
        "statusCode": 201,
        "headers": {"x-from-function": "yes"},
        "body": "aGk=",
    }
