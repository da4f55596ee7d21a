#!/usr/bin/env bash
# Brings a fresh checkout to a runnable state: npm packages, compiled output and, with
# --with-system, the Debian packages the integration tests start (run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

quiet=0; system=0
for arg in "$@"; do
  case "$arg" in
    --quiet) quiet=1 ;;
    --with-system) system=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
say() { [ "$quiet" = 1 ] || echo "setup: $*" >&2; }

# Debian packages the tests use: VictoriaMetrics (InfluxDB write API), InfluxDB 1.x, Prometheus
# and promtool (PromQL dashboards, /metrics lint), snmpd, fping (peer in benchmarks), nftables and
# iproute2 (dead hosts and loss inside namespaces), curl (MANUAL's replay commands).
if [ "$system" = 1 ]; then
  need=()
  command -v victoria-metrics >/dev/null || need+=(victoria-metrics)
  command -v influxd >/dev/null || need+=(influxdb)
  command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
  command -v curl >/dev/null || need+=(curl)
  command -v snmpd >/dev/null || need+=(snmpd)
  command -v snmpget >/dev/null || need+=(snmp)
  command -v fping >/dev/null || need+=(fping)
  command -v nft >/dev/null || need+=(nftables)
  command -v ip >/dev/null || need+=(iproute2)
  command -v unshare >/dev/null || need+=(util-linux)
  if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      echo "setup: missing ${need[*]}; install them (Debian: apt-get install ${need[*]}) or run as root" >&2
      exit 1
    fi
    say "installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Package scripts must not start system-wide daemons (snmpd on :161 and friends): the tests
    # start their own on loopback ports. policy-rc.d exit 101 = "action forbidden" (invoke-rc.d(8)).
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
    fi
    apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
    [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-fund --no-audit --ignore-scripts=false >/dev/null 2>&1 || npm ci --no-fund --no-audit
fi

# The ICMP socket addon (C++, node-gyp): built by `npm ci` too; this rebuilds it only when a
# source changed since, and prints nothing otherwise.
node scripts/build-native.mjs

say "compiling TypeScript"
npx tsc -p tsconfig.json
