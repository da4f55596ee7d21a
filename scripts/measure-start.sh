#!/usr/bin/env bash
# Measures `npm start` on a fresh clone: the first start (npm ci, addon, compile) and the second,
# each from the command to the first `ping` point in the line-protocol file. The agent pings
# 127.0.0.1 only. Needs the npm registry for the first start.
#
#   bash scripts/measure-start.sh [REPO]     # default: this checkout's committed HEAD
set -euo pipefail
repo="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
dir="$(mktemp -d /tmp/netscan-start.XXXXXX)"
git clone -q "$repo" "$dir/netscan"
cat > "$dir/config.yaml" <<'YAML'
networks: ["127.0.0.1/32"]
ping_interval: "1s"        # the first slot comes within one interval: keep it short to time the start itself
ping_timeout: "500ms"
health_check_port: 0
output_file: "points.lp"
state_file: "state.json"
spool_dir: "spool"
influxdb:
  enabled: false
  flush_interval: "100ms"  # the file writer's batches follow it
YAML

start_once() {
  rm -f "$dir/points.lp"
  local t0 pid
  t0=$(date +%s%N)
  (cd "$dir/netscan" && NETSCAN_CONFIG="$dir/config.yaml" exec setsid npm start >"$dir/run.log" 2>&1) &
  pid=$!
  until grep -q '^ping,' "$dir/points.lp" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "npm start exited; see $dir/run.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "$1: $(( ($(date +%s%N) - t0) / 1000000 )) ms to the first ping"
  # setsid made npm the leader of its own process group: stop exactly that group.
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep '^setup:' "$dir/run.log" | sed 's/^/  /' || true
}

start_once "first start"
start_once "second start"
rm -rf "$dir"
