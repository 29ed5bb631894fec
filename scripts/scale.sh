#!/usr/bin/env bash
# Scale check: gwd with N interfaces (a generated sysfs tree; default 4096)
# at 1 s polling for DURATION seconds (default 30). Prints CPU time per
# second and datagrams per second received by a local decoder.
set -euo pipefail
n=${1:-4096}
dur=${2:-30}
bin=${GWD:-bin/gwd}
tmp=$(mktemp -d)
trap 'kill "${pid:-}" "${cpid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
sys="$tmp/sys"
mkdir -p "$sys/class/net" "$sys/devices/system/cpu"
# One physical interface per directory, with the files gwd reads.
for ((i = 1; i <= n; i++)); do
  d="$sys/class/net/eth$i"
  mkdir -p "$d/device" "$d/statistics"
  echo $((i + 1)) > "$d/ifindex"; echo 1 > "$d/type"; echo 0x1003 > "$d/flags"
  printf '02:00:%02x:%02x:%02x:01\n' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)) > "$d/address"
  echo 10000 > "$d/speed"; echo full > "$d/duplex"; echo up > "$d/operstate"; echo 1 > "$d/carrier"
  for f in rx_bytes tx_bytes rx_packets tx_packets multicast rx_errors tx_errors rx_dropped tx_dropped rx_crc_errors rx_frame_errors rx_length_errors collisions tx_carrier_errors rx_fifo_errors rx_over_errors rx_nohandler; do
    echo $((i * 1000)) > "$d/statistics/$f"
  done
done
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/gwd.yaml" <<CONF
polling: 1s
host:
  sys_root: $sys
collectors:
  - address: 127.0.0.1
    port: $port
CONF
# A counting collector (decoding 600 datagrams a second would compete with
# gwd for the CPU): one line per datagram with its sample count.
python3 -u -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    b = s.recv(65536)
    print(struct.unpack(">I", b[24:28])[0])
' "$port" > "$tmp/decoded.json" &
cpid=$!
"$bin" run --config "$tmp/gwd.yaml" > "$tmp/gwd.log" 2>&1 &
pid=$!
sleep 5 # start-up and the first full interval
ns0=$(cat /proc/$pid/task/*/schedstat | awk '{s += $1} END {printf "%.0f\n", s}'); l0=$(wc -l < "$tmp/decoded.json")
sleep "$dur"
ns1=$(cat /proc/$pid/task/*/schedstat | awk '{s += $1} END {printf "%.0f\n", s}'); l1=$(wc -l < "$tmp/decoded.json")
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
samples=$(tail -n 200 "$tmp/decoded.json" | awk '{s += $1} END {print s}')
echo "gwd with $n interfaces at polling 1s over ${dur}s: CPU $(( (ns1 - ns0) / dur / 1000000 )) ms per second, $(( (l1 - l0) / dur )) datagrams per second, RSS ${rss} kB ($samples samples in the last 200 datagrams)"
