// The peer benchmark's chat handler, written as AWS's WebSocket samples write one for
// Node.js on Lambda: one function on $connect, $disconnect and $default; the connections
// kept in the module (one warm instance); a line posted to every other connection through
// the management API with the AWS SDK v3, a gone connection forgotten. A client's
// {"type":"hello"} is answered with {"type":"welcome"} (a handler cannot post to a
// connection during its $connect). The same file runs under serverless-offline and as an
// HTTP function on the gateway. The management API is at PUSH_ENDPOINT when set
// (serverless-offline names no port in its events), else where the event says, as AWS's
// samples build it (domainName and stage; over http here).
const {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} = require('@aws-sdk/client-apigatewaymanagementapi');

const connections = new Set();
let api;

function client(requestContext) {
  if (!api) {
    const endpoint =
      process.env.PUSH_ENDPOINT ||
      'http://' + requestContext.domainName + '/' + requestContext.stage;
    api = new ApiGatewayManagementApiClient({
      endpoint,
      region: process.env.AWS_REGION || 'us-east-1',
    });
  }
  return api;
}

async function post(api, connectionId, data) {
  try {
    await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
  } catch (e) {
    if (e.$metadata && e.$metadata.httpStatusCode === 410) {
      connections.delete(connectionId);
    } else {
      throw e;
    }
  }
}

exports.handler = async (event) => {
  const { routeKey, connectionId } = event.requestContext;
  if (routeKey === '$connect') {
    connections.add(connectionId);
    return { statusCode: 200 };
  }
  if (routeKey === '$disconnect') {
    connections.delete(connectionId);
    return { statusCode: 200 };
  }
  let message;
  try {
    message = JSON.parse(event.body);
  } catch (e) {
    return { statusCode: 400 };
  }
  if (message.type === 'hello') {
    await post(client(event.requestContext), connectionId, '{"type":"welcome"}');
    return { statusCode: 200 };
  }
  const others = [...connections].filter((id) => id !== connectionId);
  const api = client(event.requestContext);
  await Promise.all(others.map((id) => post(api, id, event.body)));
  return { statusCode: 200 };
};
