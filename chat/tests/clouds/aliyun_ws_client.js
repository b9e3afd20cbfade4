// A client like the browser one of Alibaba's published anonymous chat (API Gateway's
// bidirectional channel + Function Compute), for tests; written from a description of
// what that client does, with the `ws` package instead of a browser WebSocket:
//
//   node aliyun_ws_client.js WS_URL SEND_URL [HEARTBEAT_MS]   (default 15000)
//
// - Device id: 8 hex digits of a random UUID. It dials WS_URL and sends `RG#<id>` on open.
// - The first `RO#`: prints {"ro": true, "device": id}, sends the REGISTER call as that
//   client does (GET /register, seq 0, unsigned, no isBase64 field, "CA_VERSION" header as
//   written) and starts sending `H1` every HEARTBEAT_MS.
// - `NF#<json>`: prints {"nf": {"from", "message"}} (that client sends no `NO`).
// - `HO#…`: prints {"ho": true}. A JSON frame with a status (the REGISTER answer): prints
//   {"answer": status}. Anything else: prints {"other": frame}.
// - Each stdin line is a chat message, POSTed to SEND_URL (octet-stream, x-ca-deviceid),
//   in order: prints {"sent": status}, or {"sent": null, "error": why}.
// - The socket's close: prints {"closed": code}. At the end of stdin, once the messages
//   are sent, it closes the socket (1000) and exits.
//
// Output: one JSON object per line on stdout, nothing else.

'use strict';

const crypto = require('crypto');
const readline = require('readline');
const WebSocket = require('ws');

const [wsUrl, sendUrl, heartbeatArg] = process.argv.slice(2);
if (!wsUrl || !sendUrl) {
  process.stderr.write('usage: node aliyun_ws_client.js WS_URL SEND_URL [HEARTBEAT_MS]\n');
  process.exit(2);
}
const heartbeatMs = Number(heartbeatArg || 15000);
const deviceId = crypto.randomUUID().replace(/-/g, '').slice(0, 8);
const host = new URL(wsUrl).host;

function out(object) {
  // Writes to a pipe or a file are synchronous on Linux: no line is lost at exit.
  process.stdout.write(JSON.stringify(object) + '\n');
}

let heartbeat = null;
let registered = false;
let closed = false;

function registerFrame() {
  const now = new Date();
  return JSON.stringify({
    method: 'GET',
    host,
    querys: {},
    headers: {
      'x-ca-websocket_api_type': ['REGISTER'],
      'x-ca-seq': ['0'],
      'x-ca-nonce': [crypto.randomUUID()],
      date: [now.toUTCString()],
      'x-ca-timestamp': [String(now.getTime())],
      CA_VERSION: ['1'],
    },
    path: '/register',
    body: '',
  });
}

const ws = new WebSocket(wsUrl);

ws.on('open', () => ws.send('RG#' + deviceId));

ws.on('message', (data) => {
  const text = data.toString();
  if (text.startsWith('NF#')) {
    let message;
    try {
      message = JSON.parse(text.slice(3));
    } catch (error) {
      out({ nf_raw: text.slice(3) });
      return;
    }
    out({ nf: { from: message.from, message: message.message } });
    return;
  }
  if (heartbeat === null && text.startsWith('RO#')) {
    out({ ro: true, device: deviceId });
    if (!registered) {
      ws.send(registerFrame());
      registered = true;
    }
    heartbeat = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) ws.send('H1');
    }, heartbeatMs);
    return;
  }
  if (text.startsWith('HO#')) {
    out({ ho: true });
    return;
  }
  let answer = null;
  try {
    answer = JSON.parse(text);
  } catch (error) {
    // not JSON
  }
  if (answer !== null && typeof answer === 'object' && 'status' in answer) {
    out({ answer: answer.status });
  } else {
    out({ other: text });
  }
});

ws.on('close', (code) => {
  closed = true;
  if (heartbeat !== null) clearInterval(heartbeat);
  out({ closed: code });
});

ws.on('error', (error) => out({ error: String(error && error.message ? error.message : error) }));

// Messages go out over HTTP, one after the other, in the order they were typed.
let sending = Promise.resolve();

async function post(line) {
  try {
    const response = await fetch(sendUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'x-ca-deviceid': deviceId },
      body: line,
    });
    await response.arrayBuffer();
    out({ sent: response.status });
  } catch (error) {
    out({ sent: null, error: String(error && error.message ? error.message : error) });
  }
}

const input = readline.createInterface({ input: process.stdin, terminal: false });
input.on('line', (line) => {
  sending = sending.then(() => post(line));
});
input.on('close', () => {
  sending.then(() => {
    if (closed) process.exit(0);
    ws.on('close', () => process.exit(0));
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close(1000);
    setTimeout(() => process.exit(0), 2000).unref();
  });
});
