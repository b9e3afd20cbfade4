"""Lambda handlers of a WebSocket chat, written the way AWS's documentation shows them
(the Python chat of aws-doc-sdk-examples, `apigateway/websocket/lambda_chat.py`, and the
subprotocol handler of "Working with WebSocket subprotocols"), run unchanged against the
gateway. Differences from AWS's sample, both outside what is under test: the connection
table is a dict instead of a DynamoDB table, and the management endpoint is built with
`http://` (the gateway's push API serves plain HTTP on loopback) from the same
`domainName` and `stage` fields.
"""

import json
import logging

import boto3

logger = logging.getLogger(__name__)

# Connection id -> user name (a DynamoDB table in AWS's sample).
connections = {}

# Connection id -> the requestId of its authorizer's event and of its $connect event (what
# the test compares with the handshake's x-amzn-RequestId; not in AWS's sample).
handshake_requests = {}


def handle_connect(event, context):
    """$connect: a user name is required; the subprotocol `chat` is picked when offered."""
    user_name = (event.get("queryStringParameters") or {}).get("name")
    if user_name is None:
        return {"statusCode": 400}
    connection_id = event["requestContext"]["connectionId"]
    connections[connection_id] = user_name
    handshake_requests.setdefault(connection_id, {})["connect"] = event["requestContext"][
        "requestId"
    ]
    response = {"statusCode": 200}
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
    if "chat" in offered:
        response["headers"] = {"Sec-WebSocket-Protocol": "chat"}
    return response


def handle_disconnect(event, context):
    """$disconnect: forget the user and tell the others how the connection ended."""
    context_ = event["requestContext"]
    user_name = connections.pop(context_["connectionId"], "someone")
    post_to_all(event, f"{user_name} left ({context_['disconnectStatusCode']})")
    return {"statusCode": 200}


def handle_message(event, context):
    """sendmessage: `{"action": "sendmessage", "data": "…"}` goes to every connection."""
    connection_id = event["requestContext"]["connectionId"]
    user_name = connections.get(connection_id, "guest")
    message = json.loads(event.get("body", "{}")).get("data")
    post_to_all(event, f"{user_name}: {message}")
    return {"statusCode": 200, "body": "Data sent."}


def handle_whoami(event, context):
    """whoami: a route response with the caller's connection id."""
    return {"statusCode": 200, "body": event["requestContext"]["connectionId"]}


def handle_fail(event, context):
    """fail: a handler that raises (the caller gets AWS's `Internal server error`)."""
    raise RuntimeError("failing on purpose")


def authorize(event, context):
    """A $connect REQUEST authorizer, as AWS's documentation writes one: the identity
    sources (header `Auth`, query `token`) decide; the policy allows or denies the method
    ARN; its context reaches every later event of the connection."""
    headers = event["headers"]
    query = event["queryStringParameters"]
    context_ = event["requestContext"]
    handshake_requests.setdefault(context_["connectionId"], {})["authorizer"] = context_[
        "requestId"
    ]
    if headers.get("Auth") == "letmein" and query.get("token") == "t1":
        return generate_policy("me", "Allow", event["methodArn"])
    if headers.get("Auth") == "letmein":
        return generate_policy("me", "Deny", event["methodArn"])
    raise Exception("Unauthorized")


def generate_policy(principal_id, effect, resource):
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
            ],
        },
        "context": {"stringKey": "stringval", "numberKey": 123, "booleanKey": True},
    }


def handle_whoauth(event, context):
    """whoauth: a route response with what the authorizer allowed the caller with."""
    return {"statusCode": 200, "body": json.dumps(event["requestContext"].get("authorizer"))}


def handle_whatrequest(event, context):
    """whatrequest: the request ids of the caller's handshake, as its functions saw them."""
    connection_id = event["requestContext"]["connectionId"]
    return {"statusCode": 200, "body": json.dumps(handshake_requests.get(connection_id))}


def post_to_all(event, text):
    domain = event["requestContext"]["domainName"]
    stage = event["requestContext"]["stage"]
    apig_management_client = boto3.client(
        "apigatewaymanagementapi", endpoint_url=f"http://{domain}/{stage}"
    )
    for other_id in list(connections):
        try:
            apig_management_client.post_to_connection(
                Data=text.encode("utf-8"), ConnectionId=other_id
            )
        except apig_management_client.exceptions.GoneException:
            logger.info("Connection %s is gone, removing.", other_id)
            connections.pop(other_id, None)
