"""A WebSocket chat's Lambda function, written the way AWS's documentation shows a Python
one (aws-doc-sdk-examples, `apigateway/websocket/lambda_chat.py`): one `lambda_handler`
for the `$connect`, `$disconnect` and `sendmessage` routes, the connections in a DynamoDB
table named by the `table_name` environment variable, messages posted to the other
connections through boto3's API Gateway management client, its endpoint built from the
event. Run unchanged by `awslambdaric` under the gateway's Lambda Runtime API
(`--function`). Differences from AWS's sample, both outside what is under test: the
management endpoint is built with `http://` (the push API serves plain HTTP on loopback),
and DynamoDB is a local server (`AWS_ENDPOINT_URL_DYNAMODB`).
"""

import json
import logging
import os

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handle_connect(user_name, table, connection_id):
    """Remembers the connection and its user's name."""
    try:
        table.put_item(Item={"connection_id": connection_id, "user_name": user_name})
        logger.info("Added connection %s for user %s.", connection_id, user_name)
        return 200
    except ClientError:
        logger.exception("Couldn't add connection %s for user %s.", connection_id, user_name)
        return 503


def handle_disconnect(table, connection_id):
    """Forgets the connection."""
    try:
        table.delete_item(Key={"connection_id": connection_id})
        logger.info("Disconnected connection %s.", connection_id)
        return 200
    except ClientError:
        logger.exception("Couldn't disconnect connection %s.", connection_id)
        return 503


def handle_message(table, connection_id, event_body, apig_management_client):
    """Posts `user: msg` to every other connection in the table."""
    status_code = 200
    user_name = "guest"
    connection_ids = []
    try:
        item = table.get_item(Key={"connection_id": connection_id})
        user_name = item["Item"]["user_name"]
        scan = table.scan(ProjectionExpression="connection_id")
        connection_ids = [item["connection_id"] for item in scan["Items"]]
        logger.info("Found %s active connections.", len(connection_ids))
    except ClientError:
        logger.exception("Couldn't find the connections.")
        status_code = 404
    message = f"{user_name}: {event_body['msg']}".encode("utf-8")
    for other_id in connection_ids:
        if other_id == connection_id:
            continue
        try:
            apig_management_client.post_to_connection(Data=message, ConnectionId=other_id)
        except ClientError:
            logger.exception("Couldn't post to connection %s.", other_id)
    return status_code


def lambda_handler(event, context):
    table_name = os.environ.get("table_name")
    route_key = event.get("requestContext", {}).get("routeKey")
    connection_id = event.get("requestContext", {}).get("connectionId")
    if table_name is None or route_key is None or connection_id is None:
        return {"statusCode": 400}

    table = boto3.resource("dynamodb").Table(table_name)
    logger.info("Request: %s, use table %s.", route_key, table.name)

    response = {"statusCode": 200}
    if route_key == "$connect":
        user_name = (event.get("queryStringParameters") or {"name": "guest"}).get("name", "guest")
        response["statusCode"] = handle_connect(user_name, table, connection_id)
    elif route_key == "$disconnect":
        response["statusCode"] = handle_disconnect(table, connection_id)
    elif route_key == "sendmessage":
        body = event.get("body")
        body = json.loads(body if body is not None else '{"msg": ""}')
        domain = event.get("requestContext", {}).get("domainName")
        stage = event.get("requestContext", {}).get("stage")
        if domain is None or stage is None:
            response["statusCode"] = 400
        else:
            apig_management_client = boto3.client(
                "apigatewaymanagementapi", endpoint_url=f"http://{domain}/{stage}"
            )
            response["statusCode"] = handle_message(
                table, connection_id, body, apig_management_client
            )
    else:
        response["statusCode"] = 404

    return response
