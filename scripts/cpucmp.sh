#!/usr/bin/env bash
# Compares the idle CPU of gwd builds side by side: runs each binary given
# with the built-in default configuration (host and interface counters) at
# polling 5 s, each with its own web port, all sending to one local UDP
# sink, at the same time; after 5 s of start-up prints the CPU each used over
# DURATION seconds (sum of /proc/<pid>/task/*/schedstat).
#   scripts/cpucmp.sh 60 /tmp/gwd-before bin/gwd
set -euo pipefail
dur=${1:?usage: cpucmp.sh SECONDS BINARY...}
shift
[[ $# -gt 0 ]] || { echo "usage: cpucmp.sh SECONDS BINARY..." >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
tmp=$(mktemp -d)
pids=()
cleanup() {
  trap - EXIT INT TERM
  stop_pids "${pids[@]}"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 - "$tmp/port" "$((dur + 30))" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
s.settimeout(1)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        s.recv(65535)
    except OSError:
        pass
PY
pids+=($!)
for ((i = 0; i < 100; i++)); do [[ -s $tmp/port ]] && break; sleep 0.1; done
port=$(cat "$tmp/port")

n=0
for b in "$@"; do
  n=$((n + 1))
  mkdir -p "$tmp/$n"
  sed "s/^  asic:/  web:\n    listen: 127.0.0.1:0\n  asic:/" "$here/../config/default.yaml" > "$tmp/$n/gwd.yaml"
  "$b" run --config "$tmp/$n/gwd.yaml" --polling 5s --collector "127.0.0.1:$port" --run-dir "$tmp/$n" > "$tmp/$n/log" 2>&1 &
  pids+=($!)
done
cpu() { local t=0 a f; for f in /proc/"$1"/task/*/schedstat; do read -r a _ < "$f" || true; t=$((t + a)); done; echo "$t"; }
sleep 5
start=()
for p in "${pids[@]:1}"; do start+=("$(cpu "$p")"); done
sleep "$dur"
i=0
for p in "${pids[@]:1}"; do
  b=${*:$((i + 1)):1}
  kill -0 "$p" 2>/dev/null || { echo "$b: exited early; its log:" >&2; cat "$tmp/$((i + 1))/log" >&2; exit 1; }
  echo "$b: $(( ($(cpu "$p") - ${start[$i]}) / 1000000 )) ms CPU in ${dur}s"
  i=$((i + 1))
done
