#!/usr/bin/env bash
# Fleet operations, end to end and offline: a publisher rolls a new kernel out
# to 10 % of three hosts through a signed channel; each host records its boots
# and exposes them with `ingot metrics` through its own node_exporter (textfile
# collector); a local Prometheus scrapes them; `ingot fleet status` shows the
# new version next to the old one, and `ingot channel guard` rolls the channel
# back by itself when the new version's boots fail. The hosts follow.
# See README.md beside this file.
source "$(dirname "$0")/../lib.sh"
need prometheus
need prometheus-node-exporter
need curl

cd "$WORK"
mkdir -p publisher hosts

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done; }
trap 'cleanup; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT

say "Publisher: two kernel builds, published and signed; stable -> 6.1.50"
head -c 200000 /dev/urandom > publisher/vmlinuz-6.1.50
head -c 200000 /dev/urandom > publisher/vmlinuz-6.1.51
image() { # $1 = version
  cat << IMAGE
    - name: kernel-$1
      family: kernel
      version: $1
      source: { type: file, path: vmlinuz-$1, checksum: "sha256:$(sha256sum "publisher/vmlinuz-$1" | cut -d' ' -f1)" }
      destination: { path: kernels/vmlinuz-$1 }
IMAGE
}
{
  printf 'apiVersion: ingot/v1alpha1\nkind: ImageManifest\nmetadata: { name: fleet }\nspec:\n  signing: { key: keys/ingot.key, expires: 7d }\n  images:\n'
  image 6.1.50
  image 6.1.51
} > publisher/images.yaml
(cd publisher && show ingot keys generate --out keys --unencrypted && show ingot sync --quiet)
STORE=$WORK/publisher/.ingot/store
KEY=$WORK/publisher/keys/ingot.key
PUB=$WORK/publisher/keys/ingot.pub
show ingot channel set kernel stable 6.1.50 --store "$STORE" --signing-key "$KEY"

say "Three hosts, each with a node_exporter reading its own textfile directory"
HOSTS=(node-a node-b node-c)
targets=""
for h in "${HOSTS[@]}"; do
  mkdir -p "hosts/$h/textfiles"
  port=$(free_port)
  prometheus-node-exporter --web.listen-address="127.0.0.1:$port" --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="hosts/$h/textfiles" > "hosts/$h/node-exporter.log" 2>&1 &
  pids+=($!)
  targets+="      - targets: [\"127.0.0.1:$port\"]
        labels: { host: \"$h\" }
"
done
PROM_PORT=$(free_port)
PROM=http://127.0.0.1:$PROM_PORT
cat > prometheus.yml << CONFIG
global: { scrape_interval: 1s, scrape_timeout: 1s }
scrape_configs:
  - job_name: hosts
    static_configs:
$targets
CONFIG
prometheus --config.file=prometheus.yml --storage.tsdb.path=tsdb --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn > prometheus.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "$PROM/-/ready" > /dev/null && break; sleep 0.2; done

# What a host agent does: pull through the channel, record each boot, export the metrics.
host_pull() { # $1 = host
  ingot pull kernel --channel stable --host-id "$1" --store "$STORE" --to "hosts/$1/cache" --public-key "$PUB" --quiet
}
host_boot() { # $1 = host, $2 = ok|fail|timeout, $3 = handshake ms
  ingot cache record-boot --cache "hosts/$1/cache" --family kernel --result "$2" --handshake-ms "$3" --quiet > /dev/null
}
host_export() { # $1 = host
  ingot metrics --cache "hosts/$1/cache" --textfile "hosts/$1/textfiles/ingot.prom" --quiet > /dev/null
}
# Waits until Prometheus has scraped what the hosts exported (the PromQL query must return $2).
wait_for() { # $1 = PromQL, $2 = expected value
  for _ in $(seq 100); do
    got=$(curl -fsG "$PROM/api/v1/query" --data-urlencode "query=$1" | node -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8")).data.result;console.log(r[0]?r[0].value[1]:"")')
    [ "$got" = "$2" ] && return 0
    sleep 0.3
  done
  echo "Prometheus never answered $2 to $1 (last: $got)" >&2
  return 1
}

for h in "${HOSTS[@]}"; do host_pull "$h"; for ms in 40 45 50; do host_boot "$h" ok "$ms"; done; host_export "$h"; done

say "Publisher: roll 6.1.51 out to 10 % of hosts (each host decides from its id; node-b is in)"
show ingot channel set kernel stable 6.1.51 --rollout 10% --store "$STORE" --signing-key "$KEY"
for h in "${HOSTS[@]}"; do
  show ingot pull kernel --channel stable --host-id "$h" --store "$STORE" --to "hosts/$h/cache" --public-key "$PUB" 2> /dev/null
done
test "$(readlink hosts/node-b/cache/current-kernel)" = vmlinuz-6.1.51
test "$(readlink hosts/node-a/cache/current-kernel)" = vmlinuz-6.1.50

say "The hosts boot VMs: 6.1.51 fails half of its boots on node-b"
for h in node-a node-c; do for ms in 41 44; do host_boot "$h" ok "$ms"; done; done
for r in ok fail ok timeout ok fail; do host_boot node-b "$r" 60; done
for h in "${HOSTS[@]}"; do host_export "$h"; done
show cat hosts/node-b/textfiles/ingot.prom
wait_for 'sum(ingot_boots_total{name="kernel"})' 19

say "Watch: the new version next to the old one"
show ingot fleet status --prometheus "$PROM"

say "The guard (from cron or CI): 3 of 6 boots of 6.1.51 failed, above 10 % -> roll back"
set +e
ingot channel guard kernel stable --store "$STORE" --prometheus "$PROM" --signing-key "$KEY" --min-boots 5 --window 30m
code=$?
set -e
echo "exit code: $code (0 held, 3 rolled back, 4 could not decide)"
test "$code" = 3
show ingot channel list kernel --store "$STORE" --public-key "$PUB" --history

say "The hosts follow the rolled-back channel on their next pull"
for h in "${HOSTS[@]}"; do host_pull "$h"; host_export "$h"; done
test "$(readlink hosts/node-b/cache/current-kernel)" = vmlinuz-6.1.50
wait_for 'count(ingot_current_version_info{name="kernel",version="6.1.50"})' 3
show ingot fleet status --prometheus "$PROM"
say "done: rolled out to 10 %, watched, rolled back automatically, hosts followed"
