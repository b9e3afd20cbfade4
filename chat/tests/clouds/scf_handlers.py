"""SCF functions of a Tencent API Gateway WebSocket chat, written the way Tencent Cloud's
documentation shows them (SCF "WebSocket" samples: a register function returning
errNo/errMsg/websocket, a transport and a cleanup function pushing back through the
reverse push address with `requests`), run unchanged against the gateway: over HTTP
through a runner, or each function in processes of its own under a Lambda runtime client.
The registry of connections is an SQLite file (`CONNECTIONS_DB`) instead of a database
server, and the reverse push address comes from the environment (`SENDBACK_HOST`), as
the samples hard-code it.
"""

import os
import sqlite3
import time

import requests

sendbackHost = os.environ["SENDBACK_HOST"]


class Connections:
    """Live connection ids, shared by the three functions' processes."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS connections (id TEXT PRIMARY KEY)")

    def add(self, connection_id):
        self.db.execute("INSERT OR IGNORE INTO connections VALUES (?)", (connection_id,))

    def discard(self, connection_id):
        self.db.execute("DELETE FROM connections WHERE id = ?", (connection_id,))

    def __iter__(self):
        return iter([row[0] for row in self.db.execute("SELECT id FROM connections")])


connections = Connections(os.environ["CONNECTIONS_DB"])


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
    for other in connections:
        if other != connectionID:
            answer = send(other, data)
            if answer["errNo"] != 0:
                connections.discard(other)
    return "send success"


def cleanup(event, context):
    connectionID = event["websocket"]["secConnectionID"]
    connections.discard(connectionID)
    for other in connections:
        send(other, f"{connectionID} left")
    return event
