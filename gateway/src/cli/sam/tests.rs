use super::*;

/// A template laid out as AWS's sample chat's (aws-samples/simple-websockets-chat-app)
/// is, with an authorizer, a condition and SAM's Globals besides.
const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  TableName:
    Type: String
    Default: 'simplechat_connections'
  UseAuth:
    Type: String
    Default: 'yes'
Conditions:
  WithAuth: !Equals [!Ref UseAuth, 'yes']
Globals:
  Function:
    Runtime: nodejs20.x
    MemorySize: 256
    Environment:
      Variables:
        SHARED: from-globals
Resources:
  SimpleChatWebSocket:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: SimpleChatWebSocket
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: "$request.body.action"
  ConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref SimpleChatWebSocket
      RouteKey: $connect
      AuthorizationType: !If [WithAuth, CUSTOM, NONE]
      AuthorizerId: !If [WithAuth, !Ref Auth, !Ref "AWS::NoValue"]
      Target: !Join ['/', ['integrations', !Ref ConnectInteg]]
  ConnectInteg:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref SimpleChatWebSocket
      IntegrationType: AWS_PROXY
      IntegrationUri:
        Fn::Sub: arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${OnConnectFunction.Arn}/invocations
  SendRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref SimpleChatWebSocket
      RouteKey: sendmessage
      RouteResponseSelectionExpression: $default
      Target: !Join ['/', ['integrations', !Ref SendInteg]]
  SendRouteResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties:
      ApiId: !Ref SimpleChatWebSocket
      RouteId: !Ref SendRoute
      RouteResponseKey: $default
  HalfTwoWayRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref SimpleChatWebSocket
      RouteKey: whoami
      RouteResponseSelectionExpression: $default
      Target: !Join ['/', ['integrations', !Ref SendInteg]]
  SendInteg:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${SendMessageFunction.Arn}/invocations
  Auth:
    Type: AWS::ApiGatewayV2::Authorizer
    Condition: WithAuth
    Properties:
      AuthorizerType: REQUEST
      AuthorizerUri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${AuthFunction.Arn}/invocations
      IdentitySource: [route.request.querystring.token]
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      StageName: Prod
  ConnectionsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Ref TableName
  OnConnectFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: onconnect/
      Handler: app.handler
      Timeout: 7
      Environment:
        Variables:
          TABLE_NAME: !Ref TableName
  SendMessageFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: sendmessage/
      Handler: app.handler
      Environment:
        Variables:
          TABLE_NAME: !Ref ConnectionsTable
          TABLE_ARN: !GetAtt ConnectionsTable.Arn
  AuthFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: auth/
      Handler: auth.handler
      Runtime: python3.12
  Unused:
    Type: AWS::Lambda::Function
    Properties:
      Code: unused/
      Handler: x.y
      Runtime: provided.al2023
  OnConnectPermission:
    Type: AWS::Lambda::Permission
"#;

fn setup(parameters: &[(&str, &str)]) -> Result<SamSetup, SamError> {
    let template: Yaml = serde_yaml_ng::from_str(TEMPLATE).unwrap();
    let args = SamArgs {
        parameters: parameters
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        python: "python3".into(),
        ..SamArgs::default()
    };
    let place = Place {
        region: "eu-west-1",
        account: "123456789012",
        api_id: "abc123",
    };
    Template::new(&template, &args, &place, PathBuf::from("/code"))?.setup()
}

#[test]
fn a_websocket_template_becomes_routes_functions_and_an_authorizer() {
    let setup = setup(&[]).unwrap();
    let arn = |name: &str| format!("arn:aws:lambda:eu-west-1:123456789012:function:{name}");
    assert_eq!(setup.stage.as_deref(), Some("Prod"));
    assert_eq!(
        setup.route_selection.as_deref(),
        Some("$request.body.action")
    );
    assert_eq!(setup.routes["$connect"], arn("OnConnectFunction"));
    assert_eq!(setup.routes["sendmessage"], arn("SendMessageFunction"));
    // A route response makes a route two-way; a selection expression alone does not.
    assert_eq!(
        setup.two_way.iter().collect::<Vec<_>>(),
        ["sendmessage"],
        "{:?}",
        setup.notes
    );
    assert!(
        setup.notes.iter().any(|n| n.contains("HalfTwoWayRoute")),
        "{:?}",
        setup.notes
    );
    let (authorizer, sources) = setup.authorizer.clone().unwrap();
    assert_eq!(authorizer, arn("AuthFunction"));
    assert_eq!(sources, vec![IdentitySource::Query("token".into())]);
    let names: Vec<&str> = setup.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["AuthFunction", "OnConnectFunction", "SendMessageFunction"]
    );
    let connect = &setup.functions[1];
    assert_eq!(connect.dir, Some(PathBuf::from("/code/onconnect/")));
    assert_eq!(connect.handler.as_deref(), Some("app.handler"));
    assert_eq!(connect.timeout, Duration::from_secs(7));
    assert_eq!(connect.memory_mb, 256);
    assert!(
        connect.command.starts_with("exec node '"),
        "{}",
        connect.command
    );
    assert!(
        connect.command.ends_with(" 'app.handler'"),
        "{}",
        connect.command
    );
    let env: BTreeMap<_, _> = connect.env.iter().cloned().collect();
    assert_eq!(env["TABLE_NAME"], "simplechat_connections");
    assert_eq!(env["SHARED"], "from-globals");
    let send: BTreeMap<_, _> = setup.functions[2].env.iter().cloned().collect();
    assert_eq!(send["TABLE_NAME"], "simplechat_connections");
    assert_eq!(
        send["TABLE_ARN"],
        "arn:aws:dynamodb:eu-west-1:123456789012:table/simplechat_connections"
    );
    assert_eq!(
        setup.functions[0].command,
        "exec 'python3' -m awslambdaric 'auth.handler'"
    );
    assert!(
        setup
            .notes
            .iter()
            .any(|n| n.contains("ConnectionsTable") && n.contains("simplechat_connections")),
        "{:?}",
        setup.notes
    );
    assert!(
        setup.notes.iter().any(|n| n.contains("Unused")),
        "{:?}",
        setup.notes
    );
    assert!(
        !setup.notes.iter().any(|n| n.contains("Permission")),
        "{:?}",
        setup.notes
    );
}

#[test]
fn parameters_and_conditions_change_what_runs() {
    let setup = setup(&[("UseAuth", "no"), ("TableName", "other")]).unwrap();
    assert!(setup.authorizer.is_none());
    assert!(!setup.functions.iter().any(|f| f.name == "AuthFunction"));
    let connect: BTreeMap<_, _> = setup.functions[0].env.iter().cloned().collect();
    assert_eq!(connect["TABLE_NAME"], "other");
    let unknown = super::tests::setup(&[("Nope", "1")]).unwrap_err();
    assert!(
        unknown.to_string().contains("no such parameter"),
        "{unknown}"
    );
}
