#!/usr/bin/env bash
# GPU check against the real NVML: runs `gwd run` with the nvml module on,
# polling every 5 s, for DURATION seconds (default 30) to a local
# `gwd decode`, then prints the decoded nvidia_gpu (5703:1) records: the
# nvml_* lines of every counter sample that has them, with its sourceId.
# Exits 1 when no 5703:1 record arrived (no GPU, no driver, or gwd built
# without cgo: gwd's log, printed then, says which).
set -euo pipefail
dur=${1:-30}
bin=${GWD:-bin/gwd}
tmp=$(mktemp -d)
trap 'kill "${pid:-}" "${cpid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/gwd.yaml" <<CONF
polling: 5s
collectors:
  - address: 127.0.0.1
    port: $port
modules:
  nvml:
    enabled: true
CONF
"$bin" decode -b 127.0.0.1 -p "$port" > "$tmp/decoded.txt" 2>&1 &
cpid=$!
"$bin" run --config "$tmp/gwd.yaml" > "$tmp/gwd.log" 2>&1 &
pid=$!
sleep "$dur"
kill "$pid"; wait "$pid" 2>/dev/null || true
kill "$cpid"; wait "$cpid" 2>/dev/null || true

echo "== gwd log lines about NVML and GPUs"
grep -iE 'nvml|gpu' "$tmp/gwd.log" || echo "(none)"
echo "== decoded 5703:1 records, ${dur}s at polling 5s"
awk '
  /^sourceId /         { src = $2 }
  /^unixSecondsUTC /   { ts = $2 }
  /^counterBlock_tag 5703:1$/ { n++; printf "-- sample at %s from sourceId %s\n", ts, src }
  /^nvml_/             { print }
  END                  { if (n == 0) exit 1; printf "== %d records\n", n }
' "$tmp/decoded.txt" || {
  echo "no 5703:1 record received; gwd log:"
  cat "$tmp/gwd.log"
  exit 1
}
