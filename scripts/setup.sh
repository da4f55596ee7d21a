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

# Every step that does work prints one line first (also without a terminal, also with --quiet:
# a silent minute looks like a hang); --quiet only hides the "up to date" lines.
uptodate() { [ "$quiet" = 1 ] || echo "setup: $*" >&2; }
step() { echo "setup: $*" >&2; }

# npm rewrites node_modules/.package-lock.json on every install: older than package-lock.json
# means the lock changed since (a pull, a branch switch).
if [ -L node_modules ]; then
  # A node_modules shared through a symlink belongs to another checkout: npm ci would empty the
  # directory it points to. Whoever owns it installs it.
  uptodate "node_modules is a symlink to $(readlink node_modules); not installing npm packages"
elif [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm packages and compiling (npm ci runs the addon build and tsc; a few minutes on a busy machine)"
  mkdir -p dist
  # npm ci's `prepare` script compiles: a stamp taken before it saves a second compile below.
  ci_stamp="$(mktemp dist/.build-stamp.XXXXXX)"
  npm ci --no-fund --no-audit --ignore-scripts=false >/dev/null 2>&1 || npm ci --no-fund --no-audit
  if [ -f dist/cmd/netscan.js ]; then mv "$ci_stamp" dist/.build-stamp; else rm -f "$ci_stamp"; fi
else
  uptodate "npm packages up to date"
fi

# The ICMP socket addon (C++, node-gyp): built by `npm ci` too; this rebuilds it only when a
# source changed since (it prints one line when it builds, nothing otherwise).
node scripts/build-native.mjs

# Compiles only when a TypeScript source, tsconfig.json or the lock file (the compiler's
# version) is newer than the last compile: dist/.build-stamp, touched before tsc starts so an
# edit made during a compile is picked up by the next start.
stamp=dist/.build-stamp
changed=""
if [ ! -f "$stamp" ] || [ ! -f dist/cmd/netscan.js ]; then
  changed="no compiled output yet"
elif [ tsconfig.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  changed="tsconfig.json or package-lock.json changed"
else
  newer=$(find cmd src internal bench -name '*.ts' -newer "$stamp" -print -quit)
  [ -z "$newer" ] || changed="$newer changed"
fi
if [ -n "$changed" ]; then
  step "compiling TypeScript into dist/ ($changed)"
  mkdir -p dist
  next="$(mktemp dist/.build-stamp.XXXXXX)"
  node node_modules/typescript/bin/tsc -p tsconfig.json || { rm -f "$next"; exit 1; }
  mv "$next" "$stamp"
else
  uptodate "dist/ up to date"
fi
