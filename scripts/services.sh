# Starts (if needed) the servers the tests talk to. Sourced by scripts/test.
# Every function fails loudly: a test whose server is missing must fail, never skip.

die() { echo "services: $*" >&2; exit 1; }

# A server this script started in an earlier, interrupted run still holds its fixed ports:
# end it by the PID that run wrote down (never by a name pattern, which could hit another
# run's processes), then record the new one.
PIDS_DIR="${TMPDIR:-/tmp}/connstore-services"
mkdir -p "$PIDS_DIR"
end_previous() { # end_previous <name>
  local file="$PIDS_DIR/$1.pid" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}
STARTED_PIDS=""
started() { # started <name> <pid>: remembered, and ended when the calling script exits
  echo "$2" > "$PIDS_DIR/$1.pid"
  STARTED_PIDS="$STARTED_PIDS $2"
  trap 'kill $STARTED_PIDS 2>/dev/null || true' EXIT
}

wait_for() { # wait_for <what> <seconds> <command...>
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 "$secs"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "$what did not come up within ${secs}s"
}

ensure_postgres() {
  command -v pg_isready >/dev/null || die "PostgreSQL client tools are not installed"
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start \
      || die "cannot start PostgreSQL"
    wait_for PostgreSQL 30 pg_isready -q -h 127.0.0.1 -p 5432
  fi
  if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != 1 ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -c 'CREATE DATABASE test' || die "cannot create database test"
  fi
  export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
}

ensure_mariadb() {
  command -v mariadb >/dev/null || die "MariaDB client tools are not installed"
  if ! mariadb -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1; then
    echo "services: starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd \
      || die "cannot start MariaDB"
    wait_for MariaDB 60 mariadb -h 127.0.0.1 -u root -e 'SELECT 1'
  fi
  mariadb -h 127.0.0.1 -u root -e 'CREATE DATABASE IF NOT EXISTS test' \
    || die "cannot create database test"
  export TEST_MYSQL_URL="${TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
}



# A single-node Garage (a real distributed S3 engine) in a fresh temp dir, stopped when
# the calling script exits. Exports TEST_GARAGE_URL and the AWS_* credentials of a key
# allowed on bucket `conns`.
ensure_garage() {
  command -v garage >/dev/null || die "garage is not installed (.ci/run installs it: cargo install garage --version 2.5.0 …)"
  local dir port_s3=39000 port_rpc=39001 port_admin=39003
  dir=$(mktemp -d "${TMPDIR:-/tmp}/garage.XXXXXX")
  end_previous garage
  cat > "$dir/garage.toml" <<CFG
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$port_rpc"
rpc_public_addr = "127.0.0.1:$port_rpc"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$port_s3"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$port_admin"
CFG
  local g="garage -c $dir/garage.toml"
  $g server > "$dir/server.log" 2>&1 &
  started garage $!
  wait_for Garage 30 $g status
  local node key
  node=$($g node id -q | cut -d@ -f1)
  $g layout assign -z dc1 -c 1G "$node" >/dev/null || die "garage layout assign failed"
  $g layout apply --version 1 >/dev/null || die "garage layout apply failed"
  key=$($g key create ci-key) || die "garage key create failed"
  $g bucket create conns >/dev/null || die "garage bucket create failed"
  $g bucket allow --read --write --owner conns --key ci-key >/dev/null || die "garage bucket allow failed"
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  AWS_ACCESS_KEY_ID=$(echo "$key" | awk '/Key ID:/ {print $3}')
  AWS_SECRET_ACCESS_KEY=$(echo "$key" | awk '/Secret key:/ {print $3}')
  [ -n "$AWS_ACCESS_KEY_ID" ] && [ -n "$AWS_SECRET_ACCESS_KEY" ] || die "could not read the garage key"
  export TEST_GARAGE_URL="s3://conns/tests?endpoint=http://127.0.0.1:$port_s3&region=garage&path_style=true"
  echo "services: Garage on 127.0.0.1:$port_s3 ($dir)"
}

ensure_services() {
  ensure_postgres
  ensure_mariadb
  ensure_redis
  ensure_redis_cluster
  ensure_python
  ensure_node_packages
  ensure_node_ric
  ensure_garage
  ensure_moto
  ensure_moto_dynamodb
}

# The machine's Redis server (127.0.0.1:6379; it keeps nothing on disk). Started with a pid
# file of ours when it is down. Exports TEST_REDIS_URL.
ensure_redis() {
  command -v redis-server >/dev/null || die "redis-server is not installed"
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "services: starting Redis on 127.0.0.1:6379"
    end_previous redis
    redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no \
      > "${TMPDIR:-/tmp}/redis-6379.log" 2>&1 &
    started redis $!
    wait_for Redis 30 redis-cli -h 127.0.0.1 -p 6379 ping
  fi
  export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
}

# A private 3-master Redis Cluster on its own ports (17111-17113) in a fresh temp dir,
# stopped when the calling script exits. Exports TEST_REDIS_CLUSTER_URL.
ensure_redis_cluster() {
  command -v redis-cli >/dev/null || die "redis-cli is not installed"
  local dir port ports="17111 17112 17113" nodes=""
  dir=$(mktemp -d "${TMPDIR:-/tmp}/redis-cluster.XXXXXX")
  for port in $ports; do
    end_previous "redis-cluster-$port"
    mkdir -p "$dir/$port"
    (cd "$dir/$port" && exec redis-server --port "$port" --bind 127.0.0.1 \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
      --save "" --appendonly no > server.log 2>&1) &
    started "redis-cluster-$port" $!
    nodes="$nodes 127.0.0.1:$port"
  done
  for port in $ports; do
    wait_for "Redis Cluster node $port" 30 redis-cli -h 127.0.0.1 -p "$port" ping
  done
  # shellcheck disable=SC2086
  echo yes | redis-cli --cluster create $nodes --cluster-replicas 0 > "$dir/create.log" 2>&1 \
    || die "redis-cli --cluster create failed (see $dir/create.log)"
  wait_for "Redis Cluster state ok" 30 sh -c \
    "redis-cli -h 127.0.0.1 -p 17111 cluster info | grep -q 'cluster_state:ok'"
  export TEST_REDIS_CLUSTER_URL="redis+cluster://127.0.0.1:17111,127.0.0.1:17112,127.0.0.1:17113"
  echo "services: Redis Cluster on 127.0.0.1:17111-17113 ($dir)"
}

# The Python the tests run: a venv with moto's server (the OSS protocol, for store-oss),
# boto3 and requests (the cloud handlers and AWS's SDK in chat/tests/clouds) and
# websockets (a WebSocket client nobody on the team wrote). Made on first use; exports
# TEST_PYTHON.
ensure_python() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/connstore/venv"
  # aliyun-api-gateway-sign: Alibaba's API Gateway signing client for Python (the demo
  # Alibaba publishes on GitHub, as packaged on PyPI), which FC functions call APIs with.
  # awslambdaric: AWS's Lambda runtime interface client for Python, which runs handlers
  # under the node's Lambda Runtime API (--function).
  local check='import moto.server, boto3, requests, websockets, com.aliyun.api.gateway.sdk.client, awslambdaric'
  if ! "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
    echo "services: installing moto, boto3, requests, websockets, aliyun-api-gateway-sign, awslambdaric into $venv"
    python3 -m venv "$venv" || die "cannot create a venv"
    "$venv/bin/pip" install --quiet 'moto[server]' boto3 requests websockets \
      'aliyun-api-gateway-sign==1.0.4' 'awslambdaric==4.2.2' \
      || die "cannot install the Python test packages"
  fi
  export TEST_PYTHON="$venv/bin/python"
}

# The Node.js packages the tests' clients use: `ws` (a client like Alibaba's published chat
# client) and AWS's JavaScript SDK v3 management client. Exports TEST_NODE_PATH (their
# node_modules, for NODE_PATH). About 4 s to install.
ensure_node_packages() {
  command -v node >/dev/null || die "node is not installed"
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/connstore/node"
  # The SDK v3 clients are what Lambda's Node.js runtimes carry, for the template chat's
  # functions (--sam, --node-path) and the push API client test.
  if [ ! -f "$dir/node_modules/ws/package.json" ] \
    || [ ! -f "$dir/node_modules/@aws-sdk/client-apigatewaymanagementapi/package.json" ] \
    || [ ! -f "$dir/node_modules/@aws-sdk/lib-dynamodb/package.json" ]; then
    echo "services: installing ws and @aws-sdk clients (apigatewaymanagementapi, dynamodb) into $dir"
    npm install --prefix "$dir" --no-audit --no-fund --silent ws@8 \
      '@aws-sdk/client-apigatewaymanagementapi@3' '@aws-sdk/client-dynamodb@3' \
      '@aws-sdk/lib-dynamodb@3' \
      || die "cannot install the Node.js test packages"
  fi
  export TEST_NODE_PATH="$dir/node_modules"
}

# AWS's Node.js runtime interface client, aws-lambda-ric 3.3.0 (4.x needs Node.js 22), into
# ~/.cache/connstore/node-ric: its install scripts build curl and aws-lambda-cpp from source
# (cmake, autotools; about 2.5 min), which npm 11 runs only once approved. Exports
# TEST_NODE_RIC (the package folder).
ensure_node_ric() {
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/connstore/node-ric"
  local package="$dir/node_modules/aws-lambda-ric"
  if [ ! -f "$package/dist/rapid-client.node" ]; then
    for tool in cmake autoreconf libtoolize make g++; do
      command -v "$tool" >/dev/null || die "$tool is missing: aws-lambda-ric builds with cmake, autoconf, automake, libtool (.ci/run installs them)"
    done
    echo "services: installing and building aws-lambda-ric 3.3.0 into $dir"
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{"name":"node-ric","private":true}' > "$dir/package.json"
    (cd "$dir" \
      && npm install --no-audit --no-fund --silent aws-lambda-ric@3.3.0 \
      && { npm install-scripts approve aws-lambda-ric >/dev/null 2>&1 || true; } \
      && npm rebuild aws-lambda-ric >/dev/null) \
      || die "cannot build aws-lambda-ric"
    [ -f "$package/dist/rapid-client.node" ] || die "aws-lambda-ric built no native client"
  fi
  export TEST_NODE_RIC="$package"
}

# moto's server, which accepts OSS-protocol requests (path-style), for store-oss. Exports
# TEST_OSS_URL and dummy OSS credentials.
ensure_moto() {
  # Below the ephemeral range (32768-60999), as the others: a port in it may be held by any
  # client socket of the machine (a TIME_WAIT of a benchmark's thousands) when moto binds.
  local port=17121
  end_previous moto
  "$TEST_PYTHON" scripts/moto_service.py s3 127.0.0.1 "$port" > "${TMPDIR:-/tmp}/moto-$port.log" 2>&1 &
  started moto $!
  wait_for moto 60 curl -s -o /dev/null "http://127.0.0.1:$port/"
  curl -sf -X PUT "http://127.0.0.1:$port/conns" >/dev/null || die "cannot create the moto bucket"
  export OSS_ACCESS_KEY_ID=moto-key OSS_ACCESS_KEY_SECRET=moto-secret
  export TEST_OSS_URL="oss://conns/tests?endpoint=http://127.0.0.1:$port&path_style=true"
  echo "services: moto (OSS protocol) on 127.0.0.1:$port"
}

# moto's DynamoDB on its own port (17120, below the ephemeral range), one request at a time
# (see scripts/moto_service.py), for store-dynamodb. Exports TEST_DYNAMODB_URL; moto takes
# any credentials, and the tests bring their own when the environment has none.
ensure_moto_dynamodb() {
  local port=17120
  end_previous moto-dynamodb
  "$TEST_PYTHON" scripts/moto_service.py dynamodb 127.0.0.1 "$port" \
    > "${TMPDIR:-/tmp}/moto-dynamodb-$port.log" 2>&1 &
  started moto-dynamodb $!
  wait_for "moto (DynamoDB)" 60 curl -s -o /dev/null "http://127.0.0.1:$port/"
  export TEST_DYNAMODB_URL="dynamodb://conns?endpoint=http://127.0.0.1:$port&region=us-east-1"
  echo "services: moto (DynamoDB) on 127.0.0.1:$port"
}
