#!/usr/bin/env bash
# Runs scripts/services.sh's real install path on a fresh Debian: a minimal Debian 12 made with
# debootstrap in a folder, entered with chroot inside a network namespace of its own (its own
# 127.0.0.1, so its servers never meet this machine's). There `services.sh up` must install
# PostgreSQL, Redis and RabbitMQ with apt-get, start them, and create the role and database of
# TEST_POSTGRES_URL; then `services.sh check` must find all of them up, and `down` stop them.
#
#   sudo scripts/fresh-install-check.sh [DIR]     # DIR: where the Debian goes (kept for reuse)
#
# Needs root, debootstrap, iproute2 and access to a Debian mirror; takes a few minutes (most of
# it downloading). Not part of scripts/test.sh: scripts/services-selftest.sh checks the same
# path against fakes in seconds.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$(id -u)" = 0 ] || die "run it as root: it makes a chroot and a network namespace"
for tool in debootstrap ip chroot; do command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y debootstrap iproute2)"; done
DIR="${1:-${TMPDIR:-/tmp}/m8-fresh-debian}"
NS="m8fresh$$"
MIRROR="${M8_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ ! -x "$DIR/usr/bin/apt-get" ]; then
  say "debootstrap: a minimal Debian 12 in $DIR"
  debootstrap --variant=minbase --include=python3,procps,iproute2,ca-certificates bookworm "$DIR" "$MIRROR" > "$DIR.debootstrap.log" 2>&1 \
    || { tail -20 "$DIR.debootstrap.log" >&2; die "debootstrap failed (log: $DIR.debootstrap.log)"; }
fi
# The checkout's scripts, copied in (only what services.sh needs).
rm -rf "$DIR/m8" && mkdir -p "$DIR/m8/scripts"
cp "$ROOT/scripts/services.sh" "$ROOT/scripts/common.sh" "$DIR/m8/scripts/"
cp "$ROOT/docker-compose.yml" "$DIR/m8/"
# Servers started in the chroot must not be started by the packages' scripts (no init here):
# services.sh starts them itself, as on a machine without systemd.
printf '#!/bin/sh\nexit 101\n' > "$DIR/usr/sbin/policy-rc.d" && chmod +x "$DIR/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$DIR/etc/resolv.conf"

cleanup() {
  ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  for m in proc sys dev/pts dev; do umount -l "$DIR/$m" 2>/dev/null || true; done
}
trap cleanup EXIT
for m in proc sys dev dev/pts; do mkdir -p "$DIR/$m"; mount --bind "/$m" "$DIR/$m"; done
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
# The namespace has no route out; apt-get needs the mirror. So the download happens first,
# outside it (same chroot, host network), and the install itself runs inside, offline.
say "downloading the server packages into the chroot's apt cache (host network)"
chroot "$DIR" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -qq && apt-get install -y -qq --download-only postgresql redis-server rabbitmq-server' > "$DIR.download.log" 2>&1 \
  || { tail -20 "$DIR.download.log" >&2; die "downloading the packages failed (log: $DIR.download.log)"; }

in_chroot() {
  ip netns exec "$NS" chroot "$DIR" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    TEST_POSTGRES_URL="postgres://learner@127.0.0.1:5432/lessons" M8_VENV=/m8/.venv \
    bash "/m8/scripts/services.sh" "$@"
}
# apt-get update needs the network: inside the namespace, services.sh's `apt-get update` fails
# fast and the install uses the cache downloaded above. Nothing answers on 27017 either, and
# SecantusDB needs PyPI: MongoDB points at a listener started here, as in the self-test.
ip netns exec "$NS" python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",27017)); s.listen(8); time.sleep(3600)' &
sleep 0.5
say "services.sh up, as root on the fresh Debian (no servers installed)"
started=$(date +%s)
up_ok=0; in_chroot up 2>&1 | tee "$DIR.up.log" || up_ok=$?
say "services.sh check"
check_ok=0; in_chroot check 2>&1 | tee "$DIR.check.log" || check_ok=$?
say "a login over TCP with the URL's role, into its database"
login_ok=0; ip netns exec "$NS" chroot "$DIR" psql "postgres://learner@127.0.0.1:5432/lessons" -Atc "SELECT current_user || ' @ ' || current_database()" || login_ok=$?
say "services.sh down"
in_chroot down 2>&1 | tee "$DIR.down.log" || true
[ "$up_ok" = 0 ] && [ "$check_ok" = 0 ] && [ "$login_ok" = 0 ] || die "the install path failed (up $up_ok, check $check_ok, login $login_ok); logs: $DIR.*.log"
say "fresh install path passed in $(( $(date +%s) - started )) s (packages downloaded before)"
