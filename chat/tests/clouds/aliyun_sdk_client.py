"""A client of Alibaba API Gateway's bidirectional channel that behaves like Alibaba's Java
SDK (`apigateway-sdk-core` 1.1.9: its WebSocketApiClient, HeartBeatManager and
ApiRequestMaker), reimplemented here from a description of what they do, for tests.

What it does, as the SDK does:

- It dials the URL it is given (the SDK dials `ws://HOST:8080/`, no path), with no ping
  frames and no compression, and sends `RG#<deviceId>` on open. The device id is 8 hex
  digits of a random UUID, `@`, and the app key, unless one is given; it is kept for the
  life of the client, reconnects included.
- `RO#<credential>#<keepalive ms>` starts a heartbeat thread that sends `H1` every
  keepalive ms (a later `RO#` restarts it). If the client is registered (an earlier
  REGISTER call was answered 200), the saved REGISTER call is sent again, with a new seq,
  date, nonce and signature. `RF#<reason>` stops the heartbeat and makes later REGISTER
  calls fail without being sent.
- `HO#<x>` with x other than the `RO#` credential sends the saved REGISTER again (the SDK
  would crash with none saved; this client just records it).
- API calls are JSON text frames `{"method","host","path","querys","headers","isBase64",
  "body"}` with lower-case header names, each value a list, APP-signed with the app secret
  (HmacSHA256 over METHOD, Accept, Content-MD5, Content-Type, Date, the sorted `x-ca-*`
  headers and the path with its sorted parameters). `x-ca-seq` counts from 0 for the whole
  life of the client. Answers `{"status","header","body"}` are matched by their first
  `x-ca-seq` value; a call not answered within 10 s times out.
- A REGISTER answered 200 sets the registered flag. An UNREGISTER answer, whatever its
  status, clears it, forgets the saved REGISTER and stops the heartbeat.
- `NF#<payload>` is handed to the app (a queue here) and acknowledged with a bare `NO`.
- `CR` or `OS` (the whole frame): the heartbeat stops, and after 1 s the client closes the
  socket with 1000 "Reconnect". It dials again at once when the closing handshake
  completed, else 500 ms later, and re-registers on the new `RO#`. A link that ends any
  other way is redialed 500 ms later (the SDK notices a server's close only at its next
  failed write; that delay is not reproduced). Redials repeat every 500 ms until one works.
- A call made while the link is down (from `CR`/`OS`, or a lost link, to the next open)
  waits up to 10 s for the new socket, as the SDK's calls do; a call sent on a socket that
  is already closing is lost and times out, as with the SDK.
- online = registered and connected: it stays true during the 1 s before the close, and is
  true again as soon as a new socket opens, before its `RO#`.

One background thread reads the socket (and redials); commands run on the main thread.
One command per stdin line, one JSON line answer on stdout:

    connect URL APPKEY APPSECRET [DEVICE]  {"device": id, "ro": [credential, keepalive_ms]}
                                           | {"rf": reason}
    call KIND PATH [BODY...]    {"status", "header", "body"} (KIND: REGISTER, UNREGISTER,
                                COMMON; POST for COMMON with a body, GET otherwise; a query
                                in PATH goes to "querys")
    notification                {"nf": payload} (the next one, waits up to 10 s)
    none_for MS                 {"none": true} if no notification comes within MS ms,
                                else {"nf": payload}
    online                      {"online": bool}
    events                      {"events": [...]} recorded since the last `events`
    wait_event NAME             {"event": text}: the next event (after the last one
                                `wait_event` returned) starting with NAME, waits 10 s
    heartbeats                  {"h1": sent, "ho": received, "last_ho": credential|null}
    wait_ho                     {"ho": credential}: the next HO# (waits keepalive + 10 s)
    send_raw TEXT               {"sent": true}
    send_big N                  {"sent": true} (one text frame of N bytes)
    kill                        exits at once: no close frame
    Errors: {"error": "..."}.

Events, in order: "RO", "RF:<reason>", "CR", "OS", "closed:<code or none>",
"reconnected", "redial_failed:<why>" (the first of a run of failures),
"reregistered:<status>" (the answer of an automatic REGISTER), "HO_mismatch:<x>",
"failure:<what>" (a frame the SDK could not handle, or an answer nothing waits for).
The `RO` that `connect` returns is not left in the events.
"""

import base64
import email.utils
import hashlib
import hmac
import json
import os
import queue
import sys
import threading
import time
import urllib.parse
import uuid

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as dial

TIMEOUT = 10  # seconds: handshake, RO/RF, answers, waits of the commands
CA_VERSION = "1.1.2"
SIGNED_LINES = ("accept", "content-md5", "content-type", "date")
FORM = "application/x-www-form-urlencoded; charset=utf-8"
STREAM = "application/octet-stream; charset=utf-8"
ACCEPT = "application/json; charset=utf-8"


def string_to_sign(method, path, params, headers, signed):
    """The APP signature's string: METHOD, the four fixed headers, the signed headers
    sorted as `name:value`, then the path with its parameters sorted (a bare key for an
    empty value), raw, not URL-encoded."""
    first = {name: values[0] if values else "" for name, values in headers.items()}
    text = method.upper() + "\n"
    for name in SIGNED_LINES:
        text += first.get(name, "") + "\n"
    for name in sorted(signed):
        text += f"{name}:{first.get(name, '')}\n"
    text += path
    if params:
        pairs = [k if v in (None, "") else f"{k}={v}" for k, v in sorted(params.items())]
        text += "?" + "&".join(pairs)
    return text


def signature(secret, text):
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class Client:
    def __init__(self):
        self.lock = threading.RLock()
        self.send_lock = threading.Lock()
        self.ws = None
        self.url = None
        self.host = ""
        self.app_key = self.app_secret = self.device = None
        self.seq = 0
        self.pending = {}  # seq -> {"kind", "auto", "done": Event, "answer"}
        self.connected = False
        self.registered = False
        self.saved_register = None  # (path, query, body) of the last REGISTER call
        self.link_up = threading.Event()  # clear from CR/OS or a lost link to the next open
        self.signalled = threading.Event()  # RO/RF of the current socket came
        self.signal_ok = None
        self.rf_reason = ""
        self.credential = None
        self.keepalive = None
        self.beating = None  # the heartbeat's stop Event
        self.h1 = self.ho = 0
        self.last_ho = None
        self.ho_seen = threading.Condition(self.lock)
        self.notifications = queue.Queue()
        self.events = []
        self.events_read = 0
        self.waited = 0
        self.recorded = threading.Condition(self.lock)
        self.closing = False  # we sent Close after CR/OS
        self.stopping = False

    # --- the link -----------------------------------------------------------------------

    def open_socket(self):
        ws = dial(
            self.url,
            open_timeout=TIMEOUT,
            close_timeout=TIMEOUT,
            ping_interval=None,
            compression=None,
            max_size=None,
            user_agent_header="okhttp/3.8.1",
            additional_headers={"Accept-Encoding": "gzip"},
        )
        # Used without `with` on purpose (it outlives any block); newer `websockets`
        # warns about that once per connection.
        if hasattr(ws, "pending_legacy_warning"):
            ws.pending_legacy_warning = False
        return ws

    def opened(self, ws):
        with self.lock:
            self.ws = ws
            self.connected = True
            self.signal_ok = None
            self.signalled.clear()
            self.link_up.set()
        self.send(f"RG#{self.device}")

    def record(self, event):
        with self.lock:
            self.events.append(event)
            self.recorded.notify_all()

    def send(self, text, ws=None):
        """Sends a frame; False when the socket is gone (the SDK drops it silently)."""
        ws = ws or self.ws
        try:
            with self.send_lock:
                ws.send(text)
            return True
        except (ConnectionClosed, OSError, RuntimeError):
            return False

    def stop_heartbeat(self):
        with self.lock:
            if self.beating is not None:
                self.beating.set()
                self.beating = None

    def start_heartbeat(self, interval_ms):
        self.stop_heartbeat()
        stop = threading.Event()
        with self.lock:
            self.beating = stop

        def beat():
            while not stop.wait(interval_ms / 1000):
                if self.connected and self.send("H1"):
                    with self.lock:
                        self.h1 += 1

        threading.Thread(target=beat, daemon=True).start()

    def reader(self):
        """Reads frames of the current socket until it ends, then redials, forever."""
        while True:
            ws = self.ws
            while True:
                try:
                    frame = ws.recv()
                except ConnectionClosed:
                    break
                except Exception as error:  # the SDK's onFailure, then a redial
                    self.record(f"failure:{type(error).__name__}: {error}")
                    break
                if isinstance(frame, bytes):
                    frame = frame.decode("utf-8", "replace")
                try:
                    self.dispatch(ws, frame)
                except Exception as error:
                    self.record(f"failure:{type(error).__name__}: {error}")
            received = ws.protocol.close_rcvd
            self.record(f"closed:{received.code if received else 'none'}")
            with self.lock:
                self.connected = False
                self.link_up.clear()  # calls now wait (10 s at most) for the next socket
                ours, self.closing = self.closing, False
                if self.stopping:
                    return
            self.stop_heartbeat()
            # Closed after our Close: at once (okhttp's onClosed); else as after an EOF.
            if not (ours and received is not None):
                time.sleep(0.5)
            failed = False
            while True:
                try:
                    ws = self.open_socket()
                    break
                except Exception as error:
                    if not failed:
                        self.record(f"redial_failed:{type(error).__name__}: {error}")
                        failed = True
                    time.sleep(0.5)
                if self.stopping:
                    return
            self.record("reconnected")
            self.opened(ws)

    def dispatch(self, ws, text):
        """One frame, in the order the SDK tests them."""
        if not text:
            return
        if text.startswith("HO") and len(text) > 2:
            self.on_heartbeat(text[3:])
        elif text.upper() in ("OS", "CR"):
            self.on_close_command(ws, text.upper())
        elif text.startswith("RF") and len(text) > 2:
            parts = text.split("#")
            with self.lock:
                self.signal_ok = False
                self.rf_reason = parts[1] if len(parts) > 1 else ""
                self.record(f"RF:{self.rf_reason}")  # before `connect` can go on
                self.signalled.set()
            self.stop_heartbeat()
        elif text.startswith("RO") and len(text) > 2:
            parts = text.split("#")
            with self.lock:
                self.signal_ok = True
                self.credential = parts[1]
                self.keepalive = int(parts[2])
                self.record("RO")  # before `connect` can go on
                self.signalled.set()
                again = self.registered and self.saved_register is not None
            self.start_heartbeat(self.keepalive)
            if again:
                self.resend_register()
        elif text.startswith("NF") and len(text) > 2:
            self.notifications.put(text[3:])
            if self.connected:
                self.send("NO", ws)
        elif len(text) > 2 and not text.startswith("{") and len(text) > 3 and text[3] == "#":
            pass  # a signalling command of a later version
        else:
            self.on_answer(text)

    def on_heartbeat(self, credential):
        with self.lock:
            self.ho += 1
            self.last_ho = credential
            self.ho_seen.notify_all()
            mismatch = (self.credential or "").lower() != credential.lower()
            again = self.saved_register is not None
        if mismatch:
            self.record(f"HO_mismatch:{credential}")
            if again:
                self.resend_register()

    def on_close_command(self, ws, command):
        self.record(command)
        self.link_up.clear()
        self.stop_heartbeat()
        time.sleep(1)
        with self.lock:
            self.closing = True
        try:
            ws.close(1000, "Reconnect")
        except Exception:
            pass
        # The reader goes on: frames that came meanwhile are handled, then it redials.

    def on_answer(self, text):
        answer = json.loads(text)
        header = answer.get("header") or {}
        value = next((v for k, v in header.items() if k.strip().lower() == "x-ca-seq"), None)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            self.record(f"failure:answer without x-ca-seq: {text[:200]}")
            return
        seq = int(value)
        status = int(answer.get("status"))
        with self.lock:
            call = self.pending.pop(seq, None)
            if call is None:
                self.record(f"failure:no call waits for seq {seq}: {text[:200]}")
                return
            if call["kind"] == "REGISTER" and status == 200:
                self.registered = True
            elif call["kind"] == "UNREGISTER":
                self.registered = False
                self.saved_register = None
        if call["kind"] == "UNREGISTER":
            self.stop_heartbeat()
        if call["auto"]:
            self.record(f"reregistered:{status}")
        else:
            call["answer"] = {"status": status, "header": header, "body": answer.get("body")}
            call["done"].set()

    # --- API calls ------------------------------------------------------------------------

    def request(self, kind, path, query, body):
        """The call's frame, signed; registers it under its seq."""
        method = "POST" if kind == "COMMON" and body else "GET"
        headers = {}

        def put(name, value):
            headers[name.lower()] = [str(value).strip()]

        if kind != "COMMON":
            put("x-ca-websocket_api_type", kind)
        with self.lock:
            seq = self.seq
            self.seq += 1
        put("x-ca-seq", seq)
        put("date", email.utils.formatdate(usegmt=True))
        put("x-ca-timestamp", int(time.time() * 1000))
        put("x-ca-nonce", uuid.uuid4())
        put("user-agent", "ALIYUN-ANDROID-DEMO")
        put("host", self.host)
        put("x-ca-key", self.app_key)
        put("ca_version", CA_VERSION)
        put("content-type", STREAM if method == "POST" else FORM)
        put("accept", ACCEPT)
        put("x-ca-signature-method", "HmacSHA256")
        if body:
            put("content-md5", base64.b64encode(hashlib.md5(body.encode()).digest()).decode())
        signed = [name for name in headers if name.startswith("x-ca-")]
        put("x-ca-signature-headers", ",".join(signed))
        text = string_to_sign(method, path, query, headers, signed)
        put("x-ca-signature", signature(self.app_secret, text))
        frame = {
            "method": method,
            "host": self.host,
            "path": path,
            "querys": query,
            "headers": headers,
            "isBase64": 0,
            "body": body,
        }
        return seq, json.dumps(frame)

    def send_call(self, kind, path, query, body, auto):
        seq, frame = self.request(kind, path, query, body)
        call = {"kind": kind, "auto": auto, "done": threading.Event(), "answer": None}
        with self.lock:
            self.pending[seq] = call
        self.send(frame)
        return seq, call

    def resend_register(self):
        with self.lock:
            saved = self.saved_register
        if saved is not None:
            seq, call = self.send_call("REGISTER", *saved, auto=True)
            threading.Thread(target=self.expire, args=(seq, call), daemon=True).start()

    def expire(self, seq, call):
        if not call["done"].wait(TIMEOUT):
            with self.lock:
                gone = self.pending.pop(seq, None)
            if gone is not None:
                self.record(f"failure:Get Response Timeout (seq {seq})")

    # --- commands -------------------------------------------------------------------------

    def connect(self, url, app_key, app_secret, device=None):
        if self.ws is not None:
            return {"error": "already connected"}
        self.url = url
        self.host = urllib.parse.urlsplit(url).hostname or ""
        self.app_key, self.app_secret = app_key, app_secret
        self.device = device or f"{uuid.uuid4().hex[:8]}@{app_key}"
        try:
            ws = self.open_socket()
        except InvalidStatus as refused:
            return {"error": f"handshake refused: {refused.response.status_code}",
                    "status": refused.response.status_code}
        self.opened(ws)
        threading.Thread(target=self.reader, daemon=True).start()
        if not self.signalled.wait(TIMEOUT):
            return {"error": "no RO# or RF# within 10 s", "device": self.device}
        with self.lock:
            self.events_read = self.waited = len(self.events)
            if self.signal_ok:
                return {"device": self.device, "ro": [self.credential, self.keepalive]}
            return {"device": self.device, "rf": self.rf_reason}

    def call(self, kind, path, body=""):
        kind = kind.upper()
        if kind not in ("REGISTER", "UNREGISTER", "COMMON"):
            return {"error": f"unknown kind {kind}"}
        if self.ws is None:
            return {"error": "not connected"}
        self.link_up.wait(TIMEOUT)  # as the SDK: a call during a reconnect waits for it
        if not self.connected:
            return {"error": "WebSocket conection lost , connecting"}
        split = urllib.parse.urlsplit(path)
        query = {}
        for key, value in urllib.parse.parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(key, value)
        if kind == "REGISTER":
            if not self.signalled.wait(TIMEOUT):
                return {"error": "no RO# or RF# within 10 s"}
            if not self.signal_ok:
                return {"error": f"Register Comand return error :{self.rf_reason}"}
            with self.lock:
                self.saved_register = (split.path, query, body)
        seq, call = self.send_call(kind, split.path, query, body, auto=False)
        if not call["done"].wait(TIMEOUT):
            with self.lock:
                self.pending.pop(seq, None)
            return {"error": "Get Response Timeout"}
        return call["answer"]

    def notification(self):
        try:
            return {"nf": self.notifications.get(timeout=TIMEOUT)}
        except queue.Empty:
            return {"error": "timeout"}

    def none_for(self, ms):
        try:
            return {"nf": self.notifications.get(timeout=int(ms) / 1000)}
        except queue.Empty:
            return {"none": True}

    def online(self):
        with self.lock:
            return {"online": self.registered and self.connected}

    def events_(self):
        with self.lock:
            new = self.events[self.events_read:]
            self.events_read = len(self.events)
            return {"events": new}

    def wait_event(self, name):
        deadline = time.monotonic() + TIMEOUT
        with self.lock:
            while True:
                for i in range(self.waited, len(self.events)):
                    if self.events[i].startswith(name):
                        self.waited = i + 1
                        return {"event": self.events[i]}
                left = deadline - time.monotonic()
                if left <= 0:
                    return {"error": "timeout"}
                self.recorded.wait(left)

    def heartbeats(self):
        with self.lock:
            return {"h1": self.h1, "ho": self.ho, "last_ho": self.last_ho}

    def wait_ho(self):
        with self.lock:
            seen = self.ho
            deadline = time.monotonic() + (self.keepalive or 0) / 1000 + TIMEOUT
            while self.ho == seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return {"error": "timeout"}
                self.ho_seen.wait(left)
            return {"ho": self.last_ho}

    def send_raw(self, text=""):
        if self.ws is None or not self.send(text):
            return {"error": "not connected"}
        return {"sent": True}

    def send_big(self, n):
        return self.send_raw("x" * int(n))

    def quit(self):
        with self.lock:
            self.stopping = True
            ws = self.ws
        if ws is not None:
            try:
                ws.close(1000)
            except Exception:
                pass


# name -> (method, how many arguments at most; None: any number, split on whitespace)
COMMANDS = {
    "connect": (Client.connect, None),
    "call": (Client.call, 3),
    "notification": (Client.notification, 0),
    "none_for": (Client.none_for, 1),
    "online": (Client.online, 0),
    "events": (Client.events_, 0),
    "wait_event": (Client.wait_event, 1),
    "heartbeats": (Client.heartbeats, 0),
    "wait_ho": (Client.wait_ho, 0),
    "send_raw": (Client.send_raw, 1),
    "send_big": (Client.send_big, 1),
}


def main():
    client = Client()
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        command, _, rest = line.partition(" ")
        if command == "kill":
            os._exit(0)
        if command not in COMMANDS:
            result = {"error": f"unknown command {command}"}
        else:
            method, splits = COMMANDS[command]
            if splits is None:
                args = rest.split()
            elif splits == 0:
                args = []
            else:  # at most `splits` arguments, the last one takes the rest of the line
                args = rest.split(" ", splits - 1) if rest else []
            try:
                result = method(client, *args)
            except Exception as error:  # reported, not fatal: the test decides
                result = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(result), flush=True)
    client.quit()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
