#!/usr/bin/env bash
# Makes the four services available without Docker, or says how.
#   scripts/services.sh up      start what is missing (MongoDB: SecantusDB from PyPI)
#   scripts/services.sh check   say what answers, URLs masked
#   scripts/services.sh down    stop only what this script started
# URLs come from the environment or .env (DATABASE_URL, MONGODB_URI, REDIS_URL, AMQP_ADDR).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
load_env
DATABASE_URL="${DATABASE_URL:-sqlite://$OUT_DIR/module8.db?mode=rwc}"
MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:27017}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
AMQP_ADDR="${AMQP_ADDR:-amqp://guest:guest@127.0.0.1:5672/%2f}"
SECANTUS_VERSION="0.7.0b3"
mkdir -p "$RUN_DIR"

is_local() { case "$1" in 127.*|localhost|::1) return 0 ;; *) return 1 ;; esac; }

wait_port() { # host port seconds
  for _ in $(seq 1 $(( $3 * 4 ))); do port_open "$1" "$2" && return 0; sleep 0.25; done
  return 1
}

up_postgres() {
  case "$DATABASE_URL" in sqlite:*) say "SQL: SQLite file (embedded), nothing to start"; return 0 ;; esac
  read -r host port < <(url_host "$DATABASE_URL" 5432)
  if port_open "$host" "$port"; then say "PostgreSQL answers on $host:$port"; return 0; fi
  is_local "$host" || die "PostgreSQL at $(mask "$DATABASE_URL") does not answer and is not local: start it there, or unset DATABASE_URL for SQLite"
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    say "starting the local PostgreSQL cluster"
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start && echo "$version" > "$RUN_DIR/postgres.started"
    wait_port "$host" "$port" 20 || die "PostgreSQL did not come up on $host:$port"
  else
    die "PostgreSQL is not installed: apt-get install postgresql (or docker compose up -d postgres), or unset DATABASE_URL to use SQLite"
  fi
}

up_redis() {
  read -r host port < <(url_host "$REDIS_URL" 6379)
  if port_open "$host" "$port"; then say "Redis answers on $host:$port"; return 0; fi
  is_local "$host" || die "Redis at $(mask "$REDIS_URL") does not answer and is not local: start it there"
  command -v redis-server >/dev/null || die "Redis is not installed: apt-get install redis-server (or docker compose up -d redis)"
  say "starting redis-server on $host:$port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log"
  wait_port "$host" "$port" 10 || die "Redis did not come up; see $RUN_DIR/redis.log"
  touch "$RUN_DIR/redis.started"
}

up_rabbitmq() {
  read -r host port < <(url_host "$AMQP_ADDR" 5672)
  if port_open "$host" "$port"; then say "RabbitMQ answers on $host:$port"; return 0; fi
  is_local "$host" || die "RabbitMQ at $(mask "$AMQP_ADDR") does not answer and is not local: start it there"
  command -v rabbitmq-server >/dev/null || die "RabbitMQ is not installed: apt-get install rabbitmq-server (or docker compose up -d rabbitmq)"
  say "starting rabbitmq-server (takes a few seconds)"
  rabbitmq-server -detached
  wait_port "$host" "$port" 60 || die "RabbitMQ did not come up on $host:$port"
  touch "$RUN_DIR/rabbitmq.started"
}

up_mongo() {
  read -r host port < <(url_host "$MONGODB_URI" 27017)
  if port_open "$host" "$port"; then say "MongoDB answers on $host:$port"; return 0; fi
  is_local "$host" || die "MongoDB at $(mask "$MONGODB_URI") does not answer and is not local: start it there"
  say "nothing answers on $host:$port: starting SecantusDB (a MongoDB wire-compatible server) in memory"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if ! "$VENV/bin/python" -c "import secantus" 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "secantusdb==$SECANTUS_VERSION" \
      || die "could not install secantusdb from PyPI; or run MongoDB yourself (docker compose up -d mongo)"
  fi
  nohup "$VENV/bin/python" -m secantus --host "$host" --port "$port" --storage-path :memory: \
    > "$RUN_DIR/secantus.log" 2>&1 &
  echo $! > "$RUN_DIR/secantus.pid"
  wait_port "$host" "$port" 30 || { tail -20 "$RUN_DIR/secantus.log" >&2; die "SecantusDB did not come up on $host:$port; log: $RUN_DIR/secantus.log"; }
  say "SecantusDB runs on $host:$port (pid $(cat "$RUN_DIR/secantus.pid")); scripts/services.sh down stops it"
}

check_one() { # name url default-port
  case "$2" in sqlite:*) printf '  %-11s embedded   %s\n' "$1" "$2"; return 0 ;; esac
  read -r host port < <(url_host "$2" "$3")
  if port_open "$host" "$port"; then state="up"; else state="DOWN"; fi
  printf '  %-11s %-10s %s\n' "$1" "$state" "$(mask "$2")"
  [ "$state" = up ]
}

case "${1:-up}" in
  up)
    up_postgres; up_redis; up_rabbitmq; up_mongo ;;
  check)
    ok=0
    check_one SQL "$DATABASE_URL" 5432 || ok=1
    check_one MongoDB "$MONGODB_URI" 27017 || ok=1
    check_one Redis "$REDIS_URL" 6379 || ok=1
    check_one RabbitMQ "$AMQP_ADDR" 5672 || ok=1
    [ $ok = 0 ] || echo "  -> scripts/services.sh up starts what is missing (or: docker compose up -d)"
    exit $ok ;;
  down)
    if [ -f "$RUN_DIR/secantus.pid" ]; then kill "$(cat "$RUN_DIR/secantus.pid")" 2>/dev/null || true; rm -f "$RUN_DIR/secantus.pid"; say "stopped SecantusDB"; fi
    if [ -f "$RUN_DIR/redis.started" ] && [ -f "$RUN_DIR/redis.pid" ]; then kill "$(cat "$RUN_DIR/redis.pid")" 2>/dev/null || true; rm -f "$RUN_DIR/redis.started"; say "stopped Redis"; fi
    if [ -f "$RUN_DIR/rabbitmq.started" ]; then rabbitmqctl stop >/dev/null 2>&1 || true; rm -f "$RUN_DIR/rabbitmq.started"; say "stopped RabbitMQ"; fi
    if [ -f "$RUN_DIR/postgres.started" ]; then pg_ctlcluster --skip-systemctl-redirect "$(cat "$RUN_DIR/postgres.started")" main stop || true; rm -f "$RUN_DIR/postgres.started"; say "stopped PostgreSQL"; fi
    ;;
  *) die "usage: scripts/services.sh up|check|down" ;;
esac
