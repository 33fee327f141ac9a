#!/usr/bin/env bash
# Servers beyond one of each kind, for notebook 06 and the tests that need them: a local
# certificate authority, and a PostgreSQL primary with a streaming replica, its listener on TLS.
# Everything runs on ports of its own, with data of its own, and is stopped by pid; the shared
# servers (scripts/services.sh) are never touched.
#
#   scripts/beyond.sh ca          make the local CA and a server certificate for 127.0.0.1 and
#                                 localhost (and a second CA that signed nothing, for refusals)
#   scripts/beyond.sh pg up       a primary on $M8_PG_PRIMARY_PORT (15432; TLS with the CA's
#                                 certificate) and a streaming replica of it on
#                                 $M8_PG_REPLICA_PORT (15433), made by initdb and pg_basebackup
#   scripts/beyond.sh pg down     stops both by pid and removes their data
#   scripts/beyond.sh pg urls     prints PRIMARY=… and REPLICA=… (trust auth, database postgres)
#   scripts/beyond.sh redis up    a redis-server that speaks TLS only, on $M8_REDIS_TLS_PORT (16380),
#                                 in memory, with the CA's certificate
#   scripts/beyond.sh redis down  stops it by pid
#   scripts/beyond.sh mongo up    SecantusDB (the MongoDB stand-in, scripts/services.sh) speaking
#                                 TLS on $M8_MONGO_TLS_PORT (17017), in memory
#   scripts/beyond.sh mongo down  stops it by pid
#   scripts/beyond.sh redis-cluster up    a Redis Cluster of six redis-servers, 3 masters and a
#                                 replica each, on $M8_REDIS_CLUSTER_PORT (17101) and the five
#                                 ports after it; in memory; cluster-node-timeout 1000 ms, and
#                                 the masters that are up keep serving while one is down
#                                 (cluster-require-full-coverage no); it returns once every
#                                 node says cluster_state:ok and every replica has synced
#   scripts/beyond.sh redis-cluster down  stops all six by pid and removes their files
#   scripts/beyond.sh redis-cluster kill PORT   SIGKILLs the node on PORT (a crash, for failover)
#   scripts/beyond.sh redis-cluster url   prints URL=redis://127.0.0.1:17101,…(the three seeds)
#   scripts/beyond.sh rabbit-cluster up   a RabbitMQ cluster of three nodes on $M8_RABBIT_CLUSTER_PORT
#                                 (5711) and the two ports after it (Erlang distribution on the
#                                 port + 20000), formed at first boot by classic peer discovery
#                                 (~20 s here); returns once every node sees three running
#   scripts/beyond.sh rabbit-cluster down        stops the three nodes by pid, removes their data
#   scripts/beyond.sh rabbit-cluster kill PORT   SIGKILLs the node on PORT (a crash, for failover)
#   scripts/beyond.sh rabbit-cluster url         prints URL=amqp://127.0.0.1:5711,… (the default user guest)
#
# The ports are below Linux's ephemeral range (32768–60999 by default): a port in it can be taken
# for a moment by any outgoing connection's local end, and the server then cannot bind it (seen:
# "could not bind IPv4 address 127.0.0.1: Address already in use" on 55432, in a CI run).
# Files live under $M8_BEYOND_DIR (/tmp/m8-beyond): tls/ca.pem, tls/other-ca.pem,
# tls/server.pem, tls/server.key; pg-primary/, pg-replica/, and logs/.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BEYOND="${M8_BEYOND_DIR:-/tmp/m8-beyond}"
TLS="$BEYOND/tls"
PRIMARY_PORT="${M8_PG_PRIMARY_PORT:-15432}"
REPLICA_PORT="${M8_PG_REPLICA_PORT:-15433}"
REDIS_TLS_PORT="${M8_REDIS_TLS_PORT:-16380}"
MONGO_TLS_PORT="${M8_MONGO_TLS_PORT:-17017}"
CLUSTER_PORT="${M8_REDIS_CLUSTER_PORT:-17101}"
CLUSTER_DIR="$BEYOND/redis-cluster-$CLUSTER_PORT"
RABBIT_PORT="${M8_RABBIT_CLUSTER_PORT:-5711}"
RABBIT_DIR="$BEYOND/rabbit-cluster-$RABBIT_PORT"
mkdir -p "$BEYOND"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"
  elif [ "$(id -un)" = postgres ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n -u postgres -- "$@"
  else "$@"; fi   # a user's own PostgreSQL binaries run as that user
}

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] || die "no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) in /usr/lib/postgresql/*/bin: apt-get install postgresql"
  echo "$dir"
}

make_ca() {
  command -v openssl >/dev/null || die "openssl is not installed: apt-get install openssl"
  mkdir -p "$TLS"
  if [ -s "$TLS/ca.pem" ] && [ -s "$TLS/server.pem" ] && [ -s "$TLS/other-ca.pem" ]; then return 0; fi
  local log="$TLS/openssl.log"
  : > "$log"
  for ca in ca other-ca; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=module8 local $ca" \
      -keyout "$TLS/$ca.key" -out "$TLS/$ca.pem" >>"$log" 2>&1 || die "openssl could not make $ca; see $log"
  done
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$TLS/server.key" -out "$TLS/server.csr" >>"$log" 2>&1 \
    || die "openssl could not make the server key; see $log"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$TLS/server.ext"
  openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial -days 3650 \
    -extfile "$TLS/server.ext" -out "$TLS/server.pem" >>"$log" 2>&1 || die "openssl could not sign the server certificate; see $log"
  chmod 644 "$TLS"/*.pem; chmod 600 "$TLS"/*.key
  say "a local CA in $TLS (ca.pem), a server certificate for localhost and 127.0.0.1 (server.pem), and another CA that signed nothing (other-ca.pem)"
}

pg_pid() { # data-dir: the postmaster's pid, if it runs
  [ -f "$1/postmaster.pid" ] || return 1
  local pid; pid=$(head -1 "$1/postmaster.pid")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

pg_start() { # data-dir log
  local bin; bin=$(pg_bin)
  as_postgres "$bin/pg_ctl" -D "$1" -l "$2" -w -t 30 start >/dev/null \
    || { tail -20 "$2" >&2; die "PostgreSQL in $1 did not start; log: $2"; }
}

pg_up() {
  make_ca
  local bin primary="$BEYOND/pg-primary" replica="$BEYOND/pg-replica"
  bin=$(pg_bin)
  if pg_pid "$primary" >/dev/null && pg_pid "$replica" >/dev/null; then
    say "the primary (port $PRIMARY_PORT) and its replica (port $REPLICA_PORT) already run"; return 0
  fi
  pg_down quiet
  # The postgres user must reach the folders (a root-owned /tmp/m8-beyond is fine: 755).
  chmod 755 "$BEYOND"
  mkdir -p "$primary" "$BEYOND/logs" && chmod 700 "$primary"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$primary" "$BEYOND/logs"
  as_postgres "$bin/initdb" -D "$primary" -U postgres --auth=trust --no-sync -E UTF8 >"$BEYOND/initdb.log" 2>&1 \
    || die "initdb failed; see $BEYOND/initdb.log"
  cp "$TLS/server.pem" "$TLS/server.key" "$primary/"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$primary/server.pem" "$primary/server.key"
  chmod 600 "$primary/server.key"
  cat >> "$primary/postgresql.conf" <<EOF
# scripts/beyond.sh: a primary of the project's own
port = $PRIMARY_PORT
listen_addresses = '127.0.0.1,127.0.0.2'   # .2: a host name the certificate does not hold
unix_socket_directories = '$primary'
wal_level = replica
max_wal_senders = 4
hot_standby = on
ssl = on
ssl_cert_file = 'server.pem'
ssl_key_file = 'server.key'
shared_buffers = 32MB
EOF
  cat > "$primary/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.0/8 trust
host replication all 127.0.0.0/8 trust
EOF
  pg_start "$primary" "$BEYOND/logs/pg-primary.log"
  mkdir -p "$replica" && chmod 700 "$replica"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$replica"
  as_postgres "$bin/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$replica" -R -X stream --no-sync >"$BEYOND/basebackup.log" 2>&1 \
    || { pg_down quiet; die "pg_basebackup failed; see $BEYOND/basebackup.log (the primary was stopped again)"; }
  cat >> "$replica/postgresql.conf" <<EOF
# scripts/beyond.sh: the replica
port = $REPLICA_PORT
unix_socket_directories = '$replica'
EOF
  pg_start "$replica" "$BEYOND/logs/pg-replica.log"
  say "a PostgreSQL primary on 127.0.0.1:$PRIMARY_PORT (pid $(pg_pid "$primary"), TLS with $TLS/ca.pem) and its streaming replica on 127.0.0.1:$REPLICA_PORT (pid $(pg_pid "$replica")); scripts/beyond.sh pg down stops them"
}

stop_pid() { # pid: QUIT (PostgreSQL's immediate shutdown: the data is removed next), then wait
  # (20 s at most, then KILL)
  kill -QUIT "$1" 2>/dev/null || return 0
  for _ in $(seq 1 80); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$1" 2>/dev/null || true
}

pg_down() {
  local dir pid
  for dir in "$BEYOND/pg-replica" "$BEYOND/pg-primary"; do
    if pid=$(pg_pid "$dir"); then stop_pid "$pid"; [ "${1:-}" = quiet ] || say "stopped PostgreSQL in $dir (pid $pid)"; fi
    rm -rf "$dir"
  done
}

redis_up() {
  make_ca
  command -v redis-server >/dev/null || die "redis-server is not installed: apt-get install redis-server"
  local pidfile="$BEYOND/redis-tls.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then say "the TLS Redis already runs on 127.0.0.1:$REDIS_TLS_PORT"; return 0; fi
  redis-server --port 0 --tls-port "$REDIS_TLS_PORT" --bind 127.0.0.1 127.0.0.2 \
    --tls-cert-file "$TLS/server.pem" --tls-key-file "$TLS/server.key" --tls-ca-cert-file "$TLS/ca.pem" --tls-auth-clients no \
    --save "" --appendonly no --daemonize yes --pidfile "$pidfile" --logfile "$BEYOND/redis-tls.log" \
    || die "redis-server did not start (is it built with TLS? redis-server --help); log: $BEYOND/redis-tls.log"
  for _ in $(seq 1 40); do [ -s "$pidfile" ] && port_open 127.0.0.1 "$REDIS_TLS_PORT" && break; sleep 0.25; done
  port_open 127.0.0.1 "$REDIS_TLS_PORT" || { tail -5 "$BEYOND/redis-tls.log" >&2; die "the TLS Redis did not come up on port $REDIS_TLS_PORT"; }
  say "a Redis speaking TLS only on 127.0.0.1:$REDIS_TLS_PORT (pid $(cat "$pidfile"), certificate from $TLS/ca.pem); scripts/beyond.sh redis down stops it"
}

redis_down() { stop_pidfile "$BEYOND/redis-tls.pid" "the TLS Redis"; }

mongo_up() {
  make_ca
  local pidfile="$BEYOND/mongo-tls.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then say "the TLS MongoDB stand-in already runs on 127.0.0.1:$MONGO_TLS_PORT"; return 0; fi
  "$VENV/bin/python" -c "import secantus" 2>/dev/null || die "SecantusDB is not in $VENV: scripts/services.sh up installs it"
  nohup "$VENV/bin/python" "$ROOT/scripts/secantusd.py" --host 127.0.0.1 --port "$MONGO_TLS_PORT" --storage-path :memory: \
    --tls-cert-file "$TLS/server.pem" --tls-key-file "$TLS/server.key" > "$BEYOND/mongo-tls.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 120); do port_open 127.0.0.1 "$MONGO_TLS_PORT" && break; kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.25; done
  port_open 127.0.0.1 "$MONGO_TLS_PORT" || { tail -5 "$BEYOND/mongo-tls.log" >&2; die "SecantusDB with TLS did not come up on port $MONGO_TLS_PORT"; }
  say "SecantusDB speaking TLS on 127.0.0.1:$MONGO_TLS_PORT (pid $(cat "$pidfile")); scripts/beyond.sh mongo down stops it"
}

cluster_ports() { for i in 0 1 2 3 4 5; do echo $((CLUSTER_PORT + i)); done; }

cluster_state() { # port → ok | fail | (nothing)
  redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p'
}

cluster_up() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || die "redis-server and redis-cli are not installed: apt-get install redis-server"
  local port alive=0
  for port in $(cluster_ports); do
    [ -f "$CLUSTER_DIR/$port.pid" ] && kill -0 "$(cat "$CLUSTER_DIR/$port.pid")" 2>/dev/null && alive=$((alive + 1))
  done
  if [ "$alive" = 6 ] && [ "$(cluster_state "$CLUSTER_PORT")" = ok ]; then
    say "the Redis Cluster already runs on 127.0.0.1:$CLUSTER_PORT-$((CLUSTER_PORT + 5))"; return 0
  fi
  # Anything less than six healthy nodes (a node killed by a lesson, a half-made cluster) is
  # made again from nothing.
  [ "$alive" -gt 0 ] && cluster_down
  rm -rf "$CLUSTER_DIR"
  mkdir -p "$CLUSTER_DIR"
  for port in $(cluster_ports); do
    mkdir -p "$CLUSTER_DIR/$port"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$CLUSTER_DIR/$port" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
      --cluster-require-full-coverage no --cluster-replica-validity-factor 0 \
      --save "" --appendonly no --repl-diskless-sync yes --repl-diskless-sync-delay 0 \
      --daemonize yes --pidfile "$CLUSTER_DIR/$port.pid" --logfile "$CLUSTER_DIR/$port.log" \
      || die "redis-server did not start on port $port; log: $CLUSTER_DIR/$port.log"
  done
  for port in $(cluster_ports); do
    for _ in $(seq 1 40); do port_open 127.0.0.1 "$port" && break; sleep 0.25; done
    port_open 127.0.0.1 "$port" || { tail -5 "$CLUSTER_DIR/$port.log" >&2; cluster_down; die "the cluster node on port $port did not come up"; }
  done
  local nodes=()
  for port in $(cluster_ports); do nodes+=("127.0.0.1:$port"); done
  timeout 30 redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes > "$CLUSTER_DIR/create.log" 2>&1 \
    || { tail -5 "$CLUSTER_DIR/create.log" >&2; cluster_down; die "redis-cli --cluster create failed; log: $CLUSTER_DIR/create.log"; }
  # Every node must agree the cluster is ok before anything uses it (bounded: 30 s).
  local ok=0
  for _ in $(seq 1 120); do
    ok=0
    for port in $(cluster_ports); do [ "$(cluster_state "$port")" = ok ] && ok=$((ok + 1)); done
    [ "$ok" = 6 ] && break
    sleep 0.25
  done
  [ "$ok" = 6 ] || { cluster_down; die "the Redis Cluster did not reach cluster_state:ok on all six nodes within 30 s"; }
  # ...and every replica must hold its master's data: a replica that never finished its first
  # sync cannot take over (bounded: 30 s).
  local synced=0
  for _ in $(seq 1 120); do
    synced=0
    for port in $(cluster_ports); do
      redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null | tr -d '\r' | grep -q '^master_link_status:up' && synced=$((synced + 1))
    done
    [ "$synced" = 3 ] && break
    sleep 0.25
  done
  [ "$synced" = 3 ] || { cluster_down; die "the cluster's three replicas did not finish their first sync within 30 s"; }
  say "a Redis Cluster on 127.0.0.1:$CLUSTER_PORT-$((CLUSTER_PORT + 5)) (3 masters, a replica each); scripts/beyond.sh redis-cluster down stops it"
}

cluster_down() {
  local port
  for port in $(cluster_ports); do stop_pidfile "$CLUSTER_DIR/$port.pid" "the cluster node on $port" 2>/dev/null; done
  rm -rf "$CLUSTER_DIR"
  say "stopped the Redis Cluster on 127.0.0.1:$CLUSTER_PORT-$((CLUSTER_PORT + 5))"
}

cluster_kill() { # port
  local pidfile="$CLUSTER_DIR/$1.pid"
  [ -f "$pidfile" ] || die "no cluster node of ours on port $1 (no $pidfile)"
  kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
  say "killed the cluster node on port $1 (SIGKILL)"
}

# --- a RabbitMQ cluster of three nodes ------------------------------------------------------
# The scripts under /usr/lib/rabbitmq/bin, not /usr/sbin's wrappers: run as root those `su
# rabbitmq`, which resets HOME and so takes the system's Erlang cookie. Every variable is set
# here, and RABBITMQ_CONF_ENV_FILE points at an empty file of ours, because the system's
# rabbitmq-env.conf names the shared node (rabbit@localhost). Each node is found by pid, checked
# to be ours by the node name in its environment before any signal.
rabbit_bin() {
  local dir
  for dir in /usr/lib/rabbitmq/bin /usr/local/lib/rabbitmq/bin; do
    [ -x "$dir/rabbitmq-server" ] && { echo "$dir"; return; }
  done
  dir=$(dirname "$(command -v rabbitmq-server 2>/dev/null)" 2>/dev/null)
  [ -n "$dir" ] && [ -x "$dir/rabbitmq-server" ] || die "no rabbitmq-server on this machine: apt-get install rabbitmq-server"
  echo "$dir"
}
rabbit_ports() { for i in 0 1 2; do echo $((RABBIT_PORT + i)); done; }
rabbit_node() { echo "m8r$1@localhost"; }
rabbit_env() { # port: the node's variables, exported in a subshell of the caller's
  local d="$RABBIT_DIR/$1"
  export HOME="$RABBIT_DIR/home" RABBITMQ_CONF_ENV_FILE="$RABBIT_DIR/rabbitmq-env.conf"
  export RABBITMQ_NODENAME="$(rabbit_node "$1")" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$1"
  export RABBITMQ_DIST_PORT=$(( $1 + 20000 )) RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log"
  export RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_PID_FILE="$d/beam.pid"
}
rabbit_ctl() { # port args…: rabbitmqctl against that node, bounded
  local port=$1; shift
  ( rabbit_env "$port"; timeout 15 "$(rabbit_bin)/rabbitmqctl" -n "$(rabbit_node "$port")" "$@" )
}
rabbit_is_ours() { # pid port
  [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = beam.smp ] \
    && tr '\0' '\n' 2>/dev/null < "/proc/$1/environ" | grep -qx "RABBITMQ_NODENAME=$(rabbit_node "$2")"
}
rabbit_pid() { # port: the node's beam.smp, if it runs
  local p
  for p in $(cat "$RABBIT_DIR/$1/beam.pid" 2>/dev/null) $(pgrep -x beam.smp); do
    rabbit_is_ours "$p" "$1" && { echo "$p"; return 0; }
  done
  return 0
}
rabbit_running() { # port: how many nodes that node sees running
  rabbit_ctl "$1" cluster_status --formatter json 2>/dev/null \
    | python3 -c 'import sys, json; print(len(json.load(sys.stdin)["running_nodes"]))' 2>/dev/null || echo 0
}

rabbit_cluster_up() {
  local bin port alive=0 started
  bin=$(rabbit_bin)
  for port in $(rabbit_ports); do if [ -n "$(rabbit_pid "$port")" ]; then alive=$((alive + 1)); fi; done
  if [ "$alive" = 3 ] && [ "$(rabbit_running "$RABBIT_PORT")" = 3 ]; then
    say "the RabbitMQ cluster already runs on 127.0.0.1:$RABBIT_PORT-$((RABBIT_PORT + 2))"; return 0
  fi
  [ "$alive" -gt 0 ] && rabbit_cluster_down
  rm -rf "$RABBIT_DIR"
  mkdir -p "$RABBIT_DIR/home"
  printf 'M8LOCALCLUSTER%s' "$(date +%s%N)" > "$RABBIT_DIR/home/.erlang.cookie"
  chmod 400 "$RABBIT_DIR/home/.erlang.cookie"
  : > "$RABBIT_DIR/rabbitmq-env.conf"
  for port in $(rabbit_ports); do
    mkdir -p "$RABBIT_DIR/$port/log" "$RABBIT_DIR/$port/mnesia"
    echo '[].' > "$RABBIT_DIR/$port/enabled_plugins"
    echo '[].' > "$RABBIT_DIR/$port/advanced.config"
    {
      echo "listeners.tcp.default = 127.0.0.1:$port"
      echo "loopback_users = none"
      echo "log.console = false"
      echo "cluster_formation.peer_discovery_backend = classic_config"
      local i=1 p
      for p in $(rabbit_ports); do echo "cluster_formation.classic_config.nodes.$i = $(rabbit_node "$p")"; i=$((i + 1)); done
      echo "cluster_partition_handling = pause_minority"
      echo "vm_memory_high_watermark.absolute = 512MB"
      echo "disk_free_limit.absolute = 256MB"
    } > "$RABBIT_DIR/$port/rabbitmq.conf"
  done
  started=$(date +%s)
  # All three at once: each finds the others through the list above and the first to take the
  # formation lock starts the cluster (no join_cluster, which was seen hanging for minutes).
  # The subshell itself is redirected, so a caller reading this script's output is not held open.
  for port in $(rabbit_ports); do
    ( rabbit_env "$port"; exec "$bin/rabbitmq-server" ) > "$RABBIT_DIR/$port/log/stdout.log" 2>&1 < /dev/null &
  done
  local running=0
  while [ $(( $(date +%s) - started )) -lt 75 ]; do
    running=$(rabbit_running "$RABBIT_PORT")
    [ "$running" = 3 ] && break
    sleep 1
  done
  if [ "$running" != 3 ]; then
    tail -3 "$RABBIT_DIR"/*/log/stdout.log >&2
    rabbit_cluster_down
    die "the RabbitMQ cluster did not have three running nodes within 75 s (saw $running)"
  fi
  say "a RabbitMQ cluster of three nodes on 127.0.0.1:$RABBIT_PORT-$((RABBIT_PORT + 2)) after $(( $(date +%s) - started )) s; scripts/beyond.sh rabbit-cluster down stops it"
}

rabbit_cluster_down() {
  local port pid pids=()
  for port in $(rabbit_ports); do
    pid=$(rabbit_pid "$port")
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; pids+=("$port:$pid"); fi
  done
  local entry
  for _ in $(seq 1 60); do
    local alive=0
    for entry in "${pids[@]}"; do rabbit_is_ours "${entry#*:}" "${entry%%:*}" && alive=1 || true; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for entry in "${pids[@]}"; do
    if rabbit_is_ours "${entry#*:}" "${entry%%:*}"; then kill -KILL "${entry#*:}" 2>/dev/null || true; fi
  done
  rm -rf "$RABBIT_DIR"
  say "stopped the RabbitMQ cluster on 127.0.0.1:$RABBIT_PORT-$((RABBIT_PORT + 2))"
}

rabbit_cluster_kill() { # port
  local pid kids
  pid=$(rabbit_pid "$1")
  [ -n "$pid" ] || die "no RabbitMQ node of ours on port $1"
  kids=$(pgrep -P "$pid" | tr '\n' ' ' || true)
  kill -KILL "$pid" $kids 2>/dev/null || true
  say "killed the RabbitMQ node on port $1 (SIGKILL, pid $pid)"
}

stop_pidfile() { # pidfile what
  [ -f "$1" ] || return 0
  local pid; pid=$(cat "$1")
  kill "$pid" 2>/dev/null && for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
  say "stopped $2 (pid $pid)"
}

case "${1:-}" in
  ca) make_ca ;;
  pg)
    case "${2:-}" in
      up) pg_up ;;
      down) pg_down ;;
      urls) echo "PRIMARY=postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres"; echo "REPLICA=postgres://postgres@127.0.0.1:$REPLICA_PORT/postgres" ;;
      *) die "usage: scripts/beyond.sh pg up|down|urls" ;;
    esac ;;
  redis)
    case "${2:-}" in
      up) redis_up ;;
      down) redis_down ;;
      *) die "usage: scripts/beyond.sh redis up|down" ;;
    esac ;;
  mongo)
    case "${2:-}" in
      up) mongo_up ;;
      down) stop_pidfile "$BEYOND/mongo-tls.pid" "the TLS MongoDB stand-in" ;;
      *) die "usage: scripts/beyond.sh mongo up|down" ;;
    esac ;;
  redis-cluster)
    case "${2:-}" in
      up) cluster_up ;;
      down) cluster_down ;;
      kill) [ -n "${3:-}" ] || die "usage: scripts/beyond.sh redis-cluster kill PORT"; cluster_kill "$3" ;;
      url) echo "URL=redis://127.0.0.1:$CLUSTER_PORT,127.0.0.1:$((CLUSTER_PORT + 1)),127.0.0.1:$((CLUSTER_PORT + 2))" ;;
      *) die "usage: scripts/beyond.sh redis-cluster up|down|kill PORT|url" ;;
    esac ;;
  rabbit-cluster)
    case "${2:-}" in
      up) rabbit_cluster_up ;;
      down) rabbit_cluster_down ;;
      kill) [ -n "${3:-}" ] || die "usage: scripts/beyond.sh rabbit-cluster kill PORT"; rabbit_cluster_kill "$3" ;;
      url) echo "URL=amqp://127.0.0.1:$RABBIT_PORT,127.0.0.1:$((RABBIT_PORT + 1)),127.0.0.1:$((RABBIT_PORT + 2))/%2f" ;;
      *) die "usage: scripts/beyond.sh rabbit-cluster up|down|kill PORT|url" ;;
    esac ;;
  *) die "usage: scripts/beyond.sh ca | pg up|down|urls | redis up|down | mongo up|down | redis-cluster up|down|kill PORT|url | rabbit-cluster up|down|kill PORT|url" ;;
esac
