#!/usr/bin/env bash
# Measures gwd's footprint: runs `gwd run` for DURATION seconds (default 60)
# with host and interface counters at polling 5 s to a local decoder, then
# prints peak and final RSS and the CPU time it used.
set -euo pipefail
dur=${1:-60}
bin=${GWD:-bin/gwd}
tmp=$(mktemp -d)
trap 'kill "${pid:-}" "${cpid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/gwd.yaml" <<CONF
polling: 5s
collectors:
  - address: 127.0.0.1
    port: $port
CONF
"$bin" decode -b 127.0.0.1 -p "$port" > "$tmp/decoded.txt" 2>&1 &
cpid=$!
"$bin" run --config "$tmp/gwd.yaml" > "$tmp/gwd.log" 2>&1 &
pid=$!
cpu() { cat /proc/$pid/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
sleep 5 # start-up: configuration, first interface scan, NVML probe
start_ns=$(cpu)
sleep "$dur"
hz=$(getconf CLK_TCK)
read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
run_ns=$(cpu)
kill "$pid"; wait "$pid" 2>/dev/null || true
kill "$cpid"; wait "$cpid" 2>/dev/null || true
dgs=$(grep -c '^startDatagram' "$tmp/decoded.txt" || true)
cpu_ms=$(( (utime + stime) * 1000 / hz ))
echo "gwd footprint over ${dur}s at polling 5s (after 5s of start-up): RSS ${rss} kB (peak ${hwm} kB), CPU $(( (run_ns - start_ns) / 1000000 )) ms in the ${dur}s, $((start_ns / 1000000)) ms for start-up; ticks since start ${cpu_ms} ms; ${dgs} datagrams decoded"
