// $disconnect: forget the connection.
const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient, DeleteCommand } = require('@aws-sdk/lib-dynamodb');

const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: process.env.AWS_REGION }));

exports.handler = async (event) => {
  const deleteParams = {
    TableName: process.env.TABLE_NAME,
    Key: { connectionId: event.requestContext.connectionId },
  };
  try {
    await ddb.send(new DeleteCommand(deleteParams));
  } catch (err) {
    return { statusCode: 500, body: 'Failed to disconnect: ' + JSON.stringify(err) };
  }
  return { statusCode: 200, body: 'Disconnected.' };
};
