// AWS's JavaScript SDK v3 (`@aws-sdk/client-apigatewaymanagementapi`), as a Lambda
// handler on Node.js calls it, against a running gateway:
//
//   node aws_js_sdk.js ENDPOINT [LIVE_ID]
//
// ENDPOINT is `http(s)://<push API>/<stage>`; credentials and the CA come from the
// environment as the SDK reads them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY;
// NODE_EXTRA_CA_CERTS for https). Checks, one line each ("ok …"), exiting non-zero on the
// first failure: GetConnection of an unknown id is a typed GoneException with a request
// id; the same call for another stage a typed ForbiddenException; with LIVE_ID,
// PostToConnection delivers "from the js sdk" (with a request id) and a frame over the
// limit is a typed PayloadTooLargeException.

'use strict';

const {
  ApiGatewayManagementApiClient,
  ForbiddenException,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} = require('@aws-sdk/client-apigatewaymanagementapi');

async function expectError(kind, call) {
  try {
    await call();
  } catch (error) {
    if (!(error instanceof kind)) {
      throw new Error(`expected ${kind.name}, got ${error.name}: ${error.message}`);
    }
    if (!error.$metadata || !error.$metadata.requestId) {
      throw new Error(`${kind.name} without a request id`);
    }
    console.log(`ok ${kind.name}`);
    return;
  }
  throw new Error(`expected ${kind.name}, the call succeeded`);
}

async function main() {
  const [endpoint, live] = process.argv.slice(2);
  const region = 'us-east-1';
  const client = new ApiGatewayManagementApiClient({ endpoint, region, maxAttempts: 1 });
  await expectError(GoneException, () =>
    client.send(new GetConnectionCommand({ ConnectionId: 'nobody' })));
  const elsewhere = new ApiGatewayManagementApiClient({
    endpoint: endpoint.replace(/\/[^/]*$/, '/staging'),
    region,
    maxAttempts: 1,
  });
  await expectError(ForbiddenException, () =>
    elsewhere.send(new GetConnectionCommand({ ConnectionId: 'nobody' })));
  if (live) {
    const posted = await client.send(new PostToConnectionCommand({
      ConnectionId: live,
      Data: Buffer.from('from the js sdk'),
    }));
    if (!posted.$metadata.requestId) {
      throw new Error('PostToConnection without a request id');
    }
    console.log('ok post_to_connection');
    await expectError(PayloadTooLargeException, () =>
      client.send(new PostToConnectionCommand({
        ConnectionId: live,
        Data: Buffer.alloc(200 * 1024, 'x'),
      })));
  }
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
