"""A client of Alibaba API Gateway's bidirectional channel, speaking only the documented
frames (as Alibaba's SDKs do: `RG#` → `RO#`/`RF#`, `H1` → `HO#`, API calls as JSON frames
matched by `x-ca-seq`, `NF#` acknowledged with `NO`), driven one command per stdin line;
each command prints one JSON line:

    open URL                  {"open": true} | {"status": <handshake status>}
    bind DEVICE               {"ro": [credential, keepalive_ms]} | {"rf": reason}
    heartbeat                 {"ho": credential}
    call KIND PATH [BODY…]    {"status", "header", "body"}  (KIND: REGISTER, UNREGISTER, COMMON)
    notification              {"nf": payload}               (the next one; NO is sent)
    closed                    {"closed": code, "frames": [frames seen before the close]}
    kill                      (exits at once: no close frame, no unregister)
"""

import contextlib
import json
import os
import sys

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

TIMEOUT = 10


class Client:
    def __init__(self):
        self.connections = contextlib.ExitStack()
        self.ws = None
        self.stash = []  # frames read while waiting for another kind
        self.seq = 0

    def open(self, url):
        try:
            self.ws = self.connections.enter_context(connect(url, open_timeout=TIMEOUT))
            return {"open": True}
        except InvalidStatus as refused:
            return {"status": refused.response.status_code}

    def next_matching(self, wanted):
        """The first frame `wanted` accepts, stashed ones first."""
        for i, frame in enumerate(self.stash):
            if wanted(frame):
                return self.stash.pop(i)
        while True:
            frame = self.ws.recv(timeout=TIMEOUT)
            if wanted(frame):
                return frame
            self.stash.append(frame)

    def bind(self, device):
        self.ws.send(f"RG#{device}")
        frame = self.next_matching(lambda f: f.startswith(("RO#", "RF#")))
        if frame.startswith("RF#"):
            return {"rf": frame[3:]}
        _, credential, keepalive = frame.split("#")
        return {"ro": [credential, int(keepalive)]}

    def heartbeat(self):
        self.ws.send("H1")
        frame = self.next_matching(lambda f: f.startswith("HO#"))
        return {"ho": frame[3:]}

    def call(self, kind, path, body=""):
        seq = str(self.seq)
        self.seq += 1
        headers = {"x-ca-seq": [seq], "content-type": ["text/plain; charset=utf-8"]}
        if kind != "COMMON":
            headers["x-ca-websocket_api_type"] = [kind]
        request = {"method": "POST", "host": "gateway", "path": path, "querys": {},
                   "headers": headers, "isBase64": 0, "body": body}
        self.ws.send(json.dumps(request))

        def answers(frame):
            if not frame.startswith("{"):
                return False
            header = json.loads(frame).get("header", {})
            return header.get("x-ca-seq") == seq

        answer = json.loads(self.next_matching(answers))
        return {"status": answer["status"], "header": answer["header"], "body": answer["body"]}

    def notification(self):
        frame = self.next_matching(lambda f: f.startswith("NF#"))
        self.ws.send("NO")
        return {"nf": frame[3:]}

    def closed(self):
        frames = list(self.stash)
        try:
            while True:
                frames.append(self.ws.recv(timeout=TIMEOUT))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            return {"closed": code, "frames": frames}


def main():
    client = Client()
    for line in sys.stdin:
        command, *args = line.rstrip("\n").split(" ", 3 if line.startswith("call") else 1)
        if command == "kill":
            os._exit(0)
        try:
            result = getattr(client, command)(*args)
        except Exception as error:  # reported, not fatal: the test decides
            result = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
