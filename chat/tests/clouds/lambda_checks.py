"""Lambda handlers beside the chat that check how the node runs functions (not from AWS's
sample): each answers a route response when it answers at all."""

import json
import os
import time

import boto3


def members(event, context):
    """members: how many connections the chat's table holds."""
    table = boto3.resource("dynamodb").Table(os.environ["table_name"])
    count = len(table.scan(ProjectionExpression="connection_id")["Items"])
    return {"statusCode": 200, "body": json.dumps({"members": count})}


def fail(event, context):
    """fail: a handler that raises."""
    raise RuntimeError("failing on purpose")


def slow(event, context):
    """slow: sleeps `secs` (from the message), then says which process it ran in."""
    secs = json.loads(event.get("body") or "{}").get("secs", 0)
    time.sleep(secs)
    return {"statusCode": 200, "body": json.dumps({"pid": os.getpid()})}
