// The peer benchmark's HTTP function runner: a Node.js Lambda handler behind a keep-alive
// HTTP/1.1 server, as the gateway's HTTP functions reach one: the AWS proxy event POSTed,
// the handler's result answered as JSON. Usage: node http-runner.mjs DIR/handler.js
// (prints `ready 127.0.0.1:PORT`).
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { handler } = require(path.resolve(process.argv[2]));

const server = http.createServer({ keepAlive: true, noDelay: true }, (request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', async () => {
    let status = 200;
    let body;
    try {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      body = JSON.stringify((await handler(event, {})) ?? null);
    } catch (error) {
      status = 500;
      body = JSON.stringify({ errorMessage: String(error) });
    }
    response.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    response.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  console.log(`ready 127.0.0.1:${server.address().port}`);
});
