#!/usr/bin/env bash
# Makes the four services available, or says exactly how.
#   scripts/services.sh up      start what does not answer (installing it first when needed)
#   scripts/services.sh check   say what answers, URLs masked
#   scripts/services.sh down    stop only what this script started
# URLs come from the environment or .env (DATABASE_URL, TEST_POSTGRES_URL, MONGODB_URI,
# REDIS_URL, AMQP_ADDR). M8_SERVICES chooses how a local server that does not answer is provided:
#   local  (default) start the installed server; a missing one is installed with apt-get when
#          this runs as root or with passwordless sudo, otherwise the exact commands are printed.
#          MongoDB: SecantusDB (a MongoDB wire-compatible server from PyPI) in memory, its TTL
#          monitor every M8_MONGO_TTL_SECONDS (default 1; scripts/secantusd.py).
#   docker `docker compose up -d --wait <service>` from docker-compose.yml.
# A server that answers is never touched, and nothing is stopped that this script did not start.
# scripts/services-selftest.sh runs the install path against fakes (run by scripts/test.sh).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
load_env
DATABASE_URL="${DATABASE_URL:-sqlite://$OUT_DIR/module8.db?mode=rwc}"
MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:27017}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
AMQP_ADDR="${AMQP_ADDR:-amqp://guest:guest@127.0.0.1:5672/%2f}"
MODE="${M8_SERVICES:-local}"
PG_ETC="${M8_PG_ETC:-/etc/postgresql}"    # where Debian keeps its PostgreSQL clusters
SECANTUS_VERSION="0.7.0b3"
mkdir -p "$RUN_DIR"
case "$MODE" in local|docker) ;; *) die "M8_SERVICES=$MODE: use local (the default) or docker" ;; esac

is_local() { case "$1" in 127.*|localhost|::1) return 0 ;; *) return 1 ;; esac; }

wait_port() { # host port seconds
  for _ in $(seq 1 $(( $3 * 4 ))); do port_open "$1" "$2" && return 0; sleep 0.25; done
  return 1
}

# --- installing: apt-get as root or through passwordless sudo, else the commands to run -------
SUDO=""
can_install() {
  command -v apt-get >/dev/null || return 1
  if [ "$(id -u)" = 0 ]; then SUDO=""; return 0; fi
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; return 0; fi
  return 1
}

apt_updated=""
install_packages() { # what-for packages...
  local what="$1"; shift
  if ! can_install; then
    if command -v apt-get >/dev/null; then
      die "$what is not installed, and this script may not install it (it is not root and sudo asks for a password). Run:
    sudo apt-get update && sudo apt-get install -y $*
then scripts/services.sh up again. Or with Docker: M8_SERVICES=docker scripts/services.sh up"
    fi
    die "$what is not installed and there is no apt-get here: install $* with your system's package manager, or with Docker: M8_SERVICES=docker scripts/services.sh up"
  fi
  say "$what is not installed: installing $* with apt-get"
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq || warn "apt-get update failed: installing from the package lists apt already has"
    apt_updated=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" || die "apt-get install $* failed"
  printf '%s\n' "$@" >> "$RUN_DIR/installed"
}

# --- docker --------------------------------------------------------------------------------
docker_up() { # compose-service host port
  command -v docker >/dev/null || die "M8_SERVICES=docker, but there is no docker command"
  say "starting $1 with docker compose"
  docker compose -f "$ROOT/docker-compose.yml" up -d --wait "$1" || die "docker compose up $1 failed"
  wait_port "$2" "$3" 60 || die "$1 (docker) does not answer on $2:$3"
  echo "$1" >> "$RUN_DIR/docker.started"
}

# --- PostgreSQL ----------------------------------------------------------------------------
# Commands as the server's superuser, over the local socket (root: runuser; else sudo -n).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n -u postgres -- "$@"
  else return 1; fi
}

# The role and database a URL names exist and it can log in over TCP; else create them (and,
# on a server this script installed, let password-less URLs in from the loopback address).
pg_provide_login() { # url installed-by-us
  local url="$1" ours="$2" user pass db hba
  psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1 && return 0
  { IFS= read -r -d '' user; IFS= read -r -d '' pass; IFS= read -r -d '' db; } < <(pg_url_parts "$url")
  if ! as_postgres true 2>/dev/null; then
    die "cannot log in to $(mask "$url"), and this script may not act as the server's superuser. Run:
    sudo -u postgres createuser --login '$user'
    sudo -u postgres createdb --owner '$user' '$db'
(and give the role the URL's password, or allow it in pg_hba.conf)"
  fi
  say "creating role '$user' and database '$db' for $(mask "$url") if missing"
  # \gexec runs each generated statement; %I / %L quote names and the password.
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres -v u="$user" -v p="$pass" -v d="$db" <<'SQL' >/dev/null \
    || die "creating role '$user' or database '$db' failed"
SELECT format('CREATE ROLE %I LOGIN', :'u') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'u') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'u', :'p') WHERE :'p' <> '' \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'d', :'u') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'d') \gexec
SQL
  psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1 && return 0
  if [ -z "$pass" ] && [ "$ours" = yes ]; then
    hba="$(as_postgres psql -X -Atqc 'SHOW hba_file')"
    say "letting password-less logins in from 127.0.0.1 and ::1 (trust, first lines of $hba)"
    as_postgres sh -c "printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' | cat - '$hba' > '$hba.m8' && cat '$hba.m8' > '$hba' && rm -f '$hba.m8'"
    as_postgres psql -X -Atqc 'SELECT pg_reload_conf()' >/dev/null
    sleep 1
    psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1 && return 0
  fi
  die "still cannot log in to $(mask "$url"): $(psql "$url" -Atqc 'SELECT 1' 2>&1 | head -1)"
}

up_postgres_url() { # url
  local url="$1" host port ours=no version
  read -r host port < <(url_host "$url" 5432)
  if ! port_open "$host" "$port"; then
    is_local "$host" || die "PostgreSQL at $(mask "$url") does not answer and is not local: start it there, or unset DATABASE_URL for SQLite"
    if [ "$MODE" = docker ]; then docker_up postgres "$host" "$port"; return 0; fi
    if ! { command -v pg_ctlcluster >/dev/null && [ -d "$PG_ETC" ]; }; then
      install_packages PostgreSQL postgresql
      ours=yes
    elif grep -qx postgresql "$RUN_DIR/installed" 2>/dev/null; then
      ours=yes
    fi
    if ! port_open "$host" "$port"; then   # Debian starts a cluster on install where it can
      version="$(ls "$PG_ETC" | sort -V | tail -1)"
      say "starting the local PostgreSQL cluster ($version/main)"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start && echo "$version" > "$RUN_DIR/postgres.started"
      wait_port "$host" "$port" 30 || die "PostgreSQL did not come up on $host:$port (cluster $version/main listens on the port in $PG_ETC/$version/main/postgresql.conf)"
    fi
  else
    say "PostgreSQL answers on $host:$port"
    grep -qx postgresql "$RUN_DIR/installed" 2>/dev/null && ours=yes
  fi
  is_local "$host" && command -v psql >/dev/null && pg_provide_login "$url" "$ours"
  return 0
}

up_postgres() {
  case "$DATABASE_URL" in
    sqlite:*) say "SQL: SQLite file (embedded), nothing to start" ;;
    *) up_postgres_url "$DATABASE_URL" ;;
  esac
  # The tests, the bench and the runner's postgres variant of notebook 01 use this one.
  [ "$TEST_POSTGRES_URL" = "$DATABASE_URL" ] || up_postgres_url "$TEST_POSTGRES_URL"
}

# --- Redis, RabbitMQ, MongoDB -------------------------------------------------------------
up_redis() {
  read -r host port < <(url_host "$REDIS_URL" 6379)
  if port_open "$host" "$port"; then say "Redis answers on $host:$port"; return 0; fi
  is_local "$host" || die "Redis at $(mask "$REDIS_URL") does not answer and is not local: start it there"
  if [ "$MODE" = docker ]; then docker_up redis "$host" "$port"; return 0; fi
  command -v redis-server >/dev/null || install_packages Redis redis-server
  port_open "$host" "$port" && { say "Redis answers on $host:$port (started by its package)"; return 0; }
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
  if [ "$MODE" = docker ]; then docker_up rabbitmq "$host" "$port"; return 0; fi
  command -v rabbitmq-server >/dev/null || install_packages RabbitMQ rabbitmq-server
  if ! wait_port "$host" "$port" 2; then   # its package may have started it
    say "starting rabbitmq-server (takes a few seconds)"
    rabbitmq-server -detached
    wait_port "$host" "$port" 60 || die "RabbitMQ did not come up on $host:$port"
    touch "$RUN_DIR/rabbitmq.started"
  fi
}

up_mongo() {
  read -r host port < <(url_host "$MONGODB_URI" 27017)
  if port_open "$host" "$port"; then say "MongoDB answers on $host:$port"; return 0; fi
  is_local "$host" || die "MongoDB at $(mask "$MONGODB_URI") does not answer and is not local: start it there"
  if [ "$MODE" = docker ]; then docker_up mongo "$host" "$port"; return 0; fi
  say "nothing answers on $host:$port: starting SecantusDB (a MongoDB wire-compatible server) in memory"
  ensure_venv
  if ! "$VENV/bin/python" -c "import secantus" 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "secantusdb==$SECANTUS_VERSION" \
      || die "could not install secantusdb from PyPI; or run MongoDB yourself (docker compose up -d mongo)"
  fi
  # scripts/secantusd.py is SecantusDB's own launcher with the TTL monitor every
  # M8_MONGO_TTL_SECONDS (1 s; mongod's ttlMonitorSleepSecs, 60 s by default).
  nohup "$VENV/bin/python" "$ROOT/scripts/secantusd.py" --host "$host" --port "$port" --storage-path :memory: \
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

stop_pid() { # pid: TERM, then wait (10 s at most, then KILL) until it is gone, so that `down && up`
  # does not find the old server still answering on its way out
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 40); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$1" 2>/dev/null || true
}

case "${1:-up}" in
  up)
    up_postgres; up_redis; up_rabbitmq; up_mongo ;;
  check)
    ok=0
    check_one SQL "$DATABASE_URL" 5432 || ok=1
    [ "$TEST_POSTGRES_URL" = "$DATABASE_URL" ] || check_one "SQL (tests)" "$TEST_POSTGRES_URL" 5432 || ok=1
    check_one MongoDB "$MONGODB_URI" 27017 || ok=1
    check_one Redis "$REDIS_URL" 6379 || ok=1
    check_one RabbitMQ "$AMQP_ADDR" 5672 || ok=1
    [ $ok = 0 ] || echo "  -> scripts/services.sh up starts what is missing (M8_SERVICES=docker: with docker compose)"
    exit $ok ;;
  down)
    if [ -f "$RUN_DIR/secantus.pid" ]; then stop_pid "$(cat "$RUN_DIR/secantus.pid")"; rm -f "$RUN_DIR/secantus.pid"; say "stopped SecantusDB"; fi
    if [ -f "$RUN_DIR/redis.started" ] && [ -f "$RUN_DIR/redis.pid" ]; then stop_pid "$(cat "$RUN_DIR/redis.pid")"; rm -f "$RUN_DIR/redis.started"; say "stopped Redis"; fi
    if [ -f "$RUN_DIR/rabbitmq.started" ]; then rabbitmqctl stop >/dev/null 2>&1 || true; rm -f "$RUN_DIR/rabbitmq.started"; say "stopped RabbitMQ"; fi
    if [ -f "$RUN_DIR/postgres.started" ]; then pg_ctlcluster --skip-systemctl-redirect "$(cat "$RUN_DIR/postgres.started")" main stop || true; rm -f "$RUN_DIR/postgres.started"; say "stopped PostgreSQL"; fi
    if [ -f "$RUN_DIR/docker.started" ]; then
      # shellcheck disable=SC2046
      docker compose -f "$ROOT/docker-compose.yml" stop $(sort -u "$RUN_DIR/docker.started") || true
      rm -f "$RUN_DIR/docker.started"; say "stopped the docker compose services this script started"
    fi
    ;;
  browser)
    # the real-browser test's Chromium (scripts/browser_test.py drives it through Playwright,
    # whose own browser download is not used): installed like a server, with apt-get
    [ -x "${M8_CHROMIUM:-/usr/bin/chromium}" ] || install_packages Chromium chromium
    ;;
  *) die "usage: scripts/services.sh up|check|down|browser" ;;
esac
