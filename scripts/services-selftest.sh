#!/usr/bin/env bash
# Self-test of scripts/services.sh on a "fresh machine": no PostgreSQL, Redis or RabbitMQ
# installed, nothing answering on the URLs' ports. It never touches this machine's servers:
#  - every URL points at a free port of 127.0.0.1;
#  - PATH holds only the system tools the script needs (no server programs), behind a folder
#    of fakes — apt-get, id, sudo, runuser, docker, and what apt-get "installs" (pg_ctlcluster,
#    psql, redis-server, rabbitmq-server, rabbitmqctl) — that record how they were called and,
#    where a server would start, listen on its port (a Python listener, stopped by pid).
# Checked: as root, `up` installs the three packages with apt-get, starts each server, creates
# the role and database the PostgreSQL URL names, and `down` stops exactly those; without root
# or sudo it changes nothing and prints the apt-get command to run; M8_SERVICES=docker runs
# `docker compose up` for the missing services. Run by scripts/test.sh; takes a few seconds.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
T="$(mktemp -d "${TMPDIR:-/tmp}/m8-services-selftest.XXXXXX")"
failures=0
cleanup() {
  for f in "$T"/state/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
[ -z "${M8_SELFTEST_KEEP:-}" ] || trap - EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PG_PORT=$(free_port); REDIS_PORT=$(free_port); AMQP_PORT=$(free_port); MONGO_PORT=$(free_port)

mkdir -p "$T/bin" "$T/sys" "$T/state" "$T/etc"
# The system tools services.sh and common.sh use — and nothing else from /usr/bin.
for tool in bash sh env python3 timeout sed cat seq sleep mkdir rm touch date dirname kill grep \
            sort tail head ls cmp cp mv xargs tr printf nohup true rustc; do
  path="$(type -P "$tool" || true)"
  [ -n "$path" ] && ln -sf "$path" "$T/sys/$tool"
done
# python3 itself, not a version manager's shim (which needs its own environment)
ln -sf "$(python3 -c 'import sys; print(sys.executable)')" "$T/sys/python3"

# A listener that stands for a server: accepts and closes connections on a port until killed.
cat > "$T/listen.py" <<'PY'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True:
    c, _ = s.accept(); c.close()
PY
fake() { # name body — a fake command that logs its arguments, then runs body
  printf '#!/usr/bin/env bash\necho "%s $*" >> "$M8_FAKE/calls.log"\n%s\n' "$1" "$2" > "$T/bin/$1"
  chmod +x "$T/bin/$1"
}
serve() { echo "nohup python3 \"\$M8_FAKE/listen.py\" $1 >/dev/null 2>&1 & echo \$! > \"\$M8_FAKE/state/$2.pid\""; }
stop() { echo "kill \$(cat \"\$M8_FAKE/state/$1.pid\") 2>/dev/null; rm -f \"\$M8_FAKE/state/$1.pid\""; }

fake id 'if [ "${1:-}" = -u ]; then echo "$M8_FAKE_UID"; else echo "uid=$M8_FAKE_UID"; fi'
fake sudo 'exit 1'                                   # no passwordless sudo
fake runuser 'while [ "$1" != -- ]; do shift; done; shift; exec "$@"'
fake apt-get '
[ "$1" = install ] || exit 0
for pkg in "$@"; do case "$pkg" in
  postgresql) mkdir -p "$M8_FAKE/etc/15"; cp "$M8_FAKE/pkg/pg_ctlcluster" "$M8_FAKE/pkg/psql" "$M8_FAKE/bin/" ;;
  redis-server) cp "$M8_FAKE/pkg/redis-server" "$M8_FAKE/bin/" ;;
  rabbitmq-server) cp "$M8_FAKE/pkg/rabbitmq-server" "$M8_FAKE/pkg/rabbitmqctl" "$M8_FAKE/bin/" ;;
esac; done'
fake docker "
case \"\$*\" in
  *' up '*redis) $(serve "$REDIS_PORT" redis) ;;
  *' up '*rabbitmq) $(serve "$AMQP_PORT" rabbitmq) ;;
  *' up '*postgres) $(serve "$PG_PORT" postgres) ;;
  *' stop '*) for f in \"\$M8_FAKE\"/state/*.pid; do kill \$(cat \"\$f\"); rm -f \"\$f\"; done ;;
esac"
# The packages' programs, kept aside until apt-get "installs" them.
mkdir -p "$T/pkg"
fake pg_ctlcluster "case \"\$*\" in *start) $(serve "$PG_PORT" postgres) ;; *stop) $(stop postgres) ;; esac"
# psql: a login with the URL works once the role exists; the superuser's statements create it.
fake psql '
case "${1:-}" in postgres://*) [ -f "$M8_FAKE/state/role" ] || { echo "FATAL: role does not exist" >&2; exit 2; }; exit 0 ;; esac
cat >> "$M8_FAKE/calls.log"; touch "$M8_FAKE/state/role"'
fake redis-server "
pidfile=; port=; while [ \$# -gt 0 ]; do case \"\$1\" in --pidfile) pidfile=\$2; shift ;; --port) port=\$2; shift ;; esac; shift; done
nohup python3 \"\$M8_FAKE/listen.py\" \"\$port\" >/dev/null 2>&1 & echo \$! > \"\$pidfile\"; cp \"\$pidfile\" \"\$M8_FAKE/state/redis.pid\""
fake rabbitmq-server "$(serve "$AMQP_PORT" rabbitmq)"
fake rabbitmqctl "$(stop rabbitmq)"
for p in pg_ctlcluster psql redis-server rabbitmq-server rabbitmqctl; do mv "$T/bin/$p" "$T/pkg/$p"; done

run() { # uid mode args... — services.sh on the fake machine; output in $T/out
  : > "$T/calls.log"
  env -i HOME="$HOME" PATH="$T/bin:$T/sys" M8_FAKE="$T" M8_FAKE_UID="$1" M8_SERVICES="$2" \
    M8_RUN_DIR="$T/run" M8_PG_ETC="$T/etc" M8_VENV="$T/venv" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
    DATABASE_URL="postgres://learner:s3cr%3Ft@127.0.0.1:$PG_PORT/lessons" \
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT" AMQP_ADDR="amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f" \
    MONGODB_URI="mongodb://127.0.0.1:$MONGO_PORT" \
    bash "$ROOT/scripts/services.sh" "${@:3}" > "$T/out" 2>&1
}
expect() { # description command...
  if "${@:2}"; then echo "  ok    $1"; else echo "  FAIL  $1"; failures=$((failures + 1)); fi
}
logged() { grep -qF -- "$1" "$T/calls.log"; }
said() { grep -qF -- "$1" "$T/out"; }
answers() { port_open 127.0.0.1 "$1"; }
reset_machine() { rm -f "$T"/bin/{pg_ctlcluster,psql,redis-server,rabbitmq-server,rabbitmqctl} "$T/state/role"; rm -rf "$T/etc"/* "$T/run"; }

# MongoDB answers (SecantusDB's own start is exercised by every real run).
nohup python3 "$T/listen.py" "$MONGO_PORT" >/dev/null 2>&1 & echo $! > "$T/state/mongo.pid"
sleep 0.3

echo "services.sh, as root on a machine without the servers:"
rc=0; run 0 local up || rc=$?
expect "up succeeds (exit $rc)" [ "$rc" = 0 ]
expect "apt-get installs postgresql, redis-server, rabbitmq-server" \
  bash -c "grep -q 'apt-get .*install -y -qq postgresql' '$T/calls.log' && grep -q 'install -y -qq redis-server' '$T/calls.log' && grep -q 'install -y -qq rabbitmq-server' '$T/calls.log'"
expect "PostgreSQL, Redis and RabbitMQ answer on their URLs' ports" \
  bash -c "$(declare -f port_open); port_open 127.0.0.1 $PG_PORT && port_open 127.0.0.1 $REDIS_PORT && port_open 127.0.0.1 $AMQP_PORT"
expect "the role and database of the URL are created (as the postgres superuser)" \
  bash -c "grep -q 'psql -X -q -v ON_ERROR_STOP=1 -d postgres -v u=learner' '$T/calls.log' && grep -q 'd=lessons' '$T/calls.log' && grep -q 'CREATE DATABASE' '$T/calls.log'"
expect "no password in the output" bash -c "! grep -q 's3cr' '$T/out'"
expect "the URL is shown masked" said "postgres://learner:***@127.0.0.1:$PG_PORT/lessons"
cp "$T/out" "$T/up.out"
rc=0; run 0 local down || rc=$?
expect "down stops what up started (exit $rc)" \
  bash -c "$(declare -f port_open); ! port_open 127.0.0.1 $PG_PORT && ! port_open 127.0.0.1 $REDIS_PORT && ! port_open 127.0.0.1 $AMQP_PORT"
expect "down leaves MongoDB alone (not started by it)" answers "$MONGO_PORT"

echo "services.sh, unprivileged (no root, sudo asks for a password):"
reset_machine
rc=0; run 1000 local up || rc=$?
expect "up fails (exit $rc)" [ "$rc" != 0 ]
expect "nothing is installed" bash -c "! grep -q 'apt-get' '$T/calls.log'"
expect "it prints the command to run" said "sudo apt-get update && sudo apt-get install -y postgresql"

echo "services.sh with M8_SERVICES=docker:"
reset_machine
rc=0; run 1000 docker up || rc=$?
expect "up succeeds (exit $rc)" [ "$rc" = 0 ]
expect "docker compose starts postgres, redis and rabbitmq" \
  bash -c "grep -q 'compose .* up -d --wait postgres' '$T/calls.log' && grep -q 'up -d --wait redis' '$T/calls.log' && grep -q 'up -d --wait rabbitmq' '$T/calls.log'"
expect "apt-get is not used" bash -c "! grep -q 'apt-get' '$T/calls.log'"
rc=0; run 1000 docker down || rc=$?
expect "down stops the compose services it started" logged "compose -f $ROOT/docker-compose.yml stop postgres rabbitmq redis"

if [ "$failures" != 0 ]; then
  echo "--- services.sh output (last run) ---"; cat "$T/out"; echo "--- calls ---"; cat "$T/calls.log"
  die "services.sh self-test: $failures check(s) failed"
fi
echo "--- what up printed on the fresh machine ---"; sed 's/^/  /' "$T/up.out"
say "services.sh self-test passed"
