"""Clients nobody on the team wrote, against a running gateway:

    python clients.py sdk ENDPOINT LIVE_ID DELETE_ID # boto3's apigatewaymanagementapi
    python clients.py handshake URL                  # the `websockets` library
    python clients.py tls ENDPOINT WSS_URL           # both over TLS (AWS_CA_BUNDLE)
    python clients.py hold WSS_URL                   # a wss:// connection kept open

`sdk` needs AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the gateway's SigV4 key. It checks
every call and typed error, prints one line per check, and exits non-zero on the first
failure. `handshake` prints the HTTP status of the handshake (101 when it was accepted).
"""

import datetime
import os
import sys

import boto3
import botocore.config


def client(endpoint, secret=None):
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret or os.environ["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def expect_error(name, call, modeled=True):
    """`call` fails with the error `name`: its typed class where the service model has one
    (else botocore's ClientError), and its code."""
    try:
        call()
    except Exception as error:  # the typed exception class is what is checked
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        kind = name if modeled else "ClientError"
        if type(error).__name__ != kind or code != name:
            sys.exit(f"expected {name}, got {type(error).__name__} ({code}): {error}")
        print(f"ok {name}")
        return
    sys.exit(f"expected {name}, the call succeeded")


def sdk(endpoint, live_id, delete_id):
    api = client(endpoint)
    described = api.get_connection(ConnectionId=live_id)
    connected_at = described["ConnectedAt"]
    assert isinstance(connected_at, datetime.datetime), described
    age = datetime.datetime.now(datetime.timezone.utc) - connected_at
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=5), connected_at
    assert described["Identity"]["SourceIp"] == "127.0.0.1", described
    assert described["Identity"]["UserAgent"] == "clouds-test/1", described
    print(f"ok get_connection {connected_at.isoformat()}")
    api.post_to_connection(ConnectionId=live_id, Data=b"from boto3")
    print("ok post_to_connection")
    expect_error("GoneException", lambda: api.post_to_connection(ConnectionId="gone", Data=b"x"))
    expect_error("GoneException", lambda: api.get_connection(ConnectionId="no such=id/at all"))
    expect_error(
        "PayloadTooLargeException",
        lambda: api.post_to_connection(ConnectionId=live_id, Data=b"x" * (200 * 1024)),
    )
    wrong = client(endpoint, secret="not-the-secret")
    expect_error(
        "InvalidSignatureException",
        lambda: wrong.get_connection(ConnectionId=live_id),
        modeled=False,
    )
    elsewhere = client(endpoint.rsplit("/", 1)[0] + "/staging")
    expect_error("ForbiddenException", lambda: elsewhere.get_connection(ConnectionId=live_id))
    api.delete_connection(ConnectionId=delete_id)
    print("ok delete_connection")
    expect_error("GoneException", lambda: api.delete_connection(ConnectionId="gone"))
    # The same calls without a stage in the endpoint.
    bare = client(endpoint.rsplit("/", 1)[0])
    bare.post_to_connection(ConnectionId=live_id, Data=b"without a stage")
    print("ok post_to_connection without a stage")


def handshake(url):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url, open_timeout=10):
            print(101)
    except InvalidStatus as refused:
        print(refused.response.status_code)


def tls_context():
    import ssl

    return ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])


def tls(endpoint, wss_url):
    """boto3 over https (it trusts AWS_CA_BUNDLE) and `websockets` over wss://."""
    from websockets.sync.client import connect

    with connect(wss_url, ssl=tls_context(), open_timeout=10) as ws:
        first = ws.recv(timeout=10)
        print(f"ok wss {first[:40]}")
    api = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    expect_error("GoneException", lambda: api.get_connection(ConnectionId="nobody"))


def hold(wss_url):
    """Opens wss_url, says `open`, then answers each stdin line `ping` with `pong` once the
    server's pong came back over the same connection."""
    from websockets.sync.client import connect

    with connect(wss_url, ssl=tls_context(), open_timeout=10) as ws:
        print("open", flush=True)
        for line in sys.stdin:
            if line.strip() == "ping":
                ws.ping().wait(10)
                print("pong", flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"sdk": sdk, "handshake": handshake, "tls": tls, "hold": hold}[command](*args)
