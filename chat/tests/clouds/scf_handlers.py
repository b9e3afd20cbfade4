"""SCF functions of a Tencent API Gateway WebSocket chat, written the way Tencent Cloud's
documentation shows them (SCF "WebSocket" samples: a register function returning
errNo/errMsg/websocket, a transport and a cleanup function pushing back through the
reverse push address with `requests`), run unchanged against the gateway. The registry of
connections is a set instead of a database, and the reverse push address comes from the
environment (`SENDBACK_HOST`), as the samples hard-code it.
"""

import os
import time

import requests

sendbackHost = os.environ["SENDBACK_HOST"]

# Live connection ids (a database in a real deployment).
connections = set()


def register(event, context):
    if "requestContext" not in event.keys():
        return {"errNo": 101, "errMsg": "not found request context"}
    if "websocket" not in event.keys():
        return {"errNo": 102, "errMsg": "not found web socket"}
    query = event.get("queryString") or {}
    if "deny" in query:
        return {"errNo": 403, "errMsg": "denied"}
    if "slow" in query:
        time.sleep(3)
    connectionID = event["websocket"]["secConnectionID"]
    if "greet" in query:
        # Pushed before the handshake completes: the client gets them first, in order.
        for n in range(3):
            assert send(connectionID, f"welcome {n}")["errNo"] == 0
    retmsg = {
        "errNo": 0,
        "errMsg": "ok",
        "websocket": {"action": "connecting", "secConnectionID": connectionID},
    }
    if "secWebSocketProtocol" in event["websocket"].keys():
        retmsg["websocket"]["secWebSocketProtocol"] = event["websocket"]["secWebSocketProtocol"]
    connections.add(connectionID)
    return retmsg


def send(connectionID, data):
    retmsg = {
        "websocket": {
            "action": "data send",
            "secConnectionID": connectionID,
            "dataType": "text",
            "data": data,
        }
    }
    r = requests.post(sendbackHost, json=retmsg)
    return r.json()


def transport(event, context):
    connectionID = event["websocket"]["secConnectionID"]
    data = event["websocket"]["data"]
    if data == "crash":
        raise RuntimeError("the transport function fails on purpose")
    for other in list(connections):
        if other != connectionID:
            answer = send(other, data)
            if answer["errNo"] != 0:
                connections.discard(other)
    return "send success"


def cleanup(event, context):
    connectionID = event["websocket"]["secConnectionID"]
    connections.discard(connectionID)
    for other in list(connections):
        send(other, f"{connectionID} left")
    return event
