#!/bin/sh
# A single-node Ceph RADOS Gateway for tests and benchmarks: one monitor, one
# BlueStore OSD on a sparse file, radosgw, no manager. Everything (config,
# data, sockets, logs, PID files) lives under one directory.
#
#   scripts/rgw.sh start    start (or keep) the server; prints env lines
#   scripts/rgw.sh stop     stop the daemons by their PID files
#   scripts/rgw.sh status   exit 0 and print env lines when it answers
#   scripts/rgw.sh env      print the env lines (endpoint and keys)
#
# Directory: $INGOT_RGW_DIR (default /tmp/ingot-rgw). Ports are chosen once at
# first start and kept (the monitor's address is part of its data). Facts
# behind the settings: ../../shared/S3-TESTING.md (see the README, section S3-compatible stores).
set -eu

DIR=${INGOT_RGW_DIR:-/tmp/ingot-rgw}
CONF="$DIR/ceph.conf"
RUN="$DIR/run"

die() { echo "rgw.sh: $*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw"
}

# A free TCP port on 127.0.0.1 (asked of the kernel, then released).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

alive() { # alive NAME: the daemon in run/NAME.pid is running, with our config
  [ -f "$RUN/$1.pid" ] || return 1
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONF"
}

# launch NAME COMMAND...: runs a daemon in the foreground (-f) in the
# background, in its own session, and records its PID ourselves: a PID file
# we write from $! is exact, and a failed second start cannot remove it.
launch() {
  name=$1; shift
  setsid "$@" -f </dev/null >>"$DIR/log/$name.out" 2>&1 9>&- &
  echo $! >"$RUN/$name.pid"
}

answers() { # the gateway answers HTTP
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$RGW_PORT/" 2>/dev/null
}

load_state() {
  # shellcheck disable=SC1091
  . "$DIR/state"
}

print_env() {
  load_state
  echo "INGOT_RGW_ENDPOINT=http://127.0.0.1:$RGW_PORT"
  echo "INGOT_RGW_ACCESS_KEY=$ACCESS_KEY"
  echo "INGOT_RGW_SECRET_KEY=$SECRET_KEY"
  echo "INGOT_RGW_REGION=us-east-1"
  echo "INGOT_RGW_DIR=$DIR"
}

ceph_() { ceph -c "$CONF" --connect-timeout 10 "$@"; }

write_conf() {
  cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon_host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
public_network = 127.0.0.0/8
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
run_dir = $RUN
pid_file = $RUN/\$name.ceph.pid
admin_socket = $RUN/\$name.asok
log_file = $DIR/log/\$name.log
keyring = $DIR/keyring
mon_data = $DIR/mon/\$name
osd_data = $DIR/osd/\$name
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 68719476736
osd_memory_target = 1073741824
mon_data_avail_crit = 1
[client]
# auth is off; the default "secure" mode makes clients wait 300 s for the mon.
ms_mon_client_mode = crc
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw_data = $DIR/rgw/\$name
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
EOF
}

# First start: a monitor map, the mon and OSD stores. Ends with state written.
init() {
  rm -rf "$DIR/mon" "$DIR/osd" "$DIR/rgw" "$RUN"
  mkdir -p "$DIR/log" "$RUN" "$DIR/mon/mon.a" "$DIR/osd/osd.0" "$DIR/rgw/client.rgw.a"
  FSID=$(cat /proc/sys/kernel/random/uuid)
  OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
  MON_V2=$(free_port); MON_V1=$(free_port); RGW_PORT=$(free_port)
  ACCESS_KEY=$(head -c 15 /dev/urandom | base64 | tr -dc 'A-Z0-9' | head -c 20)
  ACCESS_KEY=INGOT$(printf '%s' "$ACCESS_KEY" | head -c 15)
  SECRET_KEY=$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)
  write_conf
  ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring"
  cat >"$DIR/state.tmp" <<EOF
FSID=$FSID
OSD_UUID=$OSD_UUID
MON_V2=$MON_V2
MON_V1=$MON_V1
RGW_PORT=$RGW_PORT
ACCESS_KEY=$ACCESS_KEY
SECRET_KEY=$SECRET_KEY
OSD_READY=0
USER_READY=0
EOF
  mv "$DIR/state.tmp" "$DIR/state"
}

set_state() { # set_state KEY VALUE
  sed -i "s/^$1=.*/$1=$2/" "$DIR/state"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  limit=$1; what=$2; shift 2
  i=0
  while ! "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -le $((limit * 4)) ] || die "timed out after ${limit}s waiting for $what (logs: $DIR/log)"
    sleep 0.25
  done
}

osd_up() { ceph_ osd stat 2>/dev/null | grep -q '1 up'; }

start() {
  need ceph-mon; need ceph-osd; need radosgw; need curl; need python3
  mkdir -p "$DIR"
  exec 9>"$DIR/.lock"
  flock 9 # one start at a time (parallel test files)
  [ -f "$DIR/state" ] || init
  load_state
  write_conf
  mkdir -p "$RUN" "$DIR/log"
  if alive mon.a && alive osd.0 && alive client.rgw.a && answers; then
    print_env
    return 0
  fi
  if ! alive mon.a; then
    if ceph -c "$CONF" --connect-timeout 2 mon stat >/dev/null 2>&1; then
      die "a monitor answers on 127.0.0.1:$MON_V1 but $RUN/mon.a.pid does not name it; stop it first"
    fi
    launch mon.a ceph-mon -c "$CONF" -i a
  fi
  wait_for 30 "the monitor" ceph_ mon stat
  if [ "$OSD_READY" != 1 ]; then
    id=$(ceph_ osd new "$OSD_UUID")
    [ "$id" = 0 ] || die "expected OSD id 0, got $id"
    ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$DIR/log/osd-mkfs.log" 2>&1 ||
      die "ceph-osd --mkfs failed (see $DIR/log/osd-mkfs.log)"
    set_state OSD_READY 1
  fi
  alive osd.0 || launch osd.0 ceph-osd -c "$CONF" -i 0
  wait_for 60 "the OSD to be up" osd_up
  alive client.rgw.a || launch client.rgw.a radosgw -c "$CONF" -n client.rgw.a
  wait_for 90 "radosgw to answer on 127.0.0.1:$RGW_PORT" answers
  if [ "$USER_READY" != 1 ]; then
    radosgw-admin -c "$CONF" user create --uid ingot --display-name ingot \
      --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >/dev/null
    set_state USER_READY 1
  fi
  print_env
}

stop() {
  [ -d "$RUN" ] || return 0
  for name in client.rgw.a osd.0 mon.a; do
    if alive "$name"; then
      pid=$(cat "$RUN/$name.pid")
      kill -TERM "$pid" 2>/dev/null || true
      i=0
      while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 80 ]; then kill -KILL "$pid" 2>/dev/null || true; fi
        [ "$i" -gt 120 ] && break
        sleep 0.25
      done
    fi
    rm -f "$RUN/$name.pid"
  done
}

status() {
  [ -f "$DIR/state" ] || { echo "not initialised: $DIR" >&2; return 1; }
  load_state
  for name in mon.a osd.0 client.rgw.a; do
    alive "$name" || { echo "$name is not running" >&2; return 1; }
  done
  answers || { echo "radosgw does not answer on 127.0.0.1:$RGW_PORT" >&2; return 1; }
  print_env
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) [ -f "$DIR/state" ] || die "not initialised: run $0 start"; print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
