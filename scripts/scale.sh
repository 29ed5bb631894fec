#!/usr/bin/env bash
# Scale check: gwd polling N real interfaces, side by side with the reference
# agent hsflowd when it is installed.
#
#   scripts/scale.sh N SECONDS [POLLING]      (defaults: 1024 30 1s)
#
# Two network namespaces, A and B, joined by N veth pairs (gwsI in A, gwpI in
# B). gwd runs in A with host.interfaces.include ^gws[0-9]+$ at POLLING; if
# hsflowd is installed ($HSFLOWD, default /usr/local/sbin/hsflowd-ref, with
# its modules in $HSFLOWD_MODULES, default /usr/local/lib/hsflowd-ref/modules)
# it runs in A at the same time with the same work (polling, and the same
# veths as switch ports through `dent { switchport = ... }`). Each sends to
# its own port of a counting collector (scripts/sflowcount.py) on 127.0.0.1
# in A. After both have sent a first datagram and a warm-up of
# max(5 s, 2 x POLLING) ($WARMUP), the agents are measured for SECONDS:
# CPU from utime+stime in /proc/PID/stat (cpu=, all threads; 10 ms ticks) and
# from the threads' schedstat (sched=, ns), RSS (VmRSS) at the end, and what
# the collector received (scripts/sflowcount.py explains each field). One
# line per agent.
# Everything (processes by PID, namespaces, temp dir) is removed on exit,
# also on Ctrl-C; KEEP=1 keeps the temp dir (agent logs, collector log).
set -euo pipefail
n=${1:-1024}
dur=${2:-30}
polling=${3:-1s}
polling=${polling%s}
[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 16384)) || { echo "N: 1..16384" >&2; exit 2; }
[[ $dur =~ ^[0-9]+$ ]] && ((dur >= 1)) || { echo "SECONDS: a whole number >= 1" >&2; exit 2; }
[[ $polling =~ ^[0-9]+$ ]] && ((polling >= 1 && polling <= 300)) || { echo "POLLING: 1s..300s" >&2; exit 2; }
warm=${WARMUP:-$((2 * polling > 5 ? 2 * polling : 5))}

here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${GWD:-bin/gwd}")
hsf=${HSFLOWD-/usr/local/sbin/hsflowd-ref}
hsfmods=${HSFLOWD_MODULES:-/usr/local/lib/hsflowd-ref/modules}
[[ -n $hsf && -x $hsf ]] || hsf=
[[ -x $bin ]] || { echo "no gwd binary at $bin (make build)" >&2; exit 2; }

A=gwdscale-$$-a
B=gwdscale-$$-b
tmp=$(mktemp -d /tmp/gwdscale.XXXXXX)
pids=()
source "$(dirname "$0")/lib.sh"
cleanup() {
  trap - EXIT INT TERM
  stop_pids "${pids[@]}"
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  if [[ -n ${KEEP:-} ]]; then echo "# kept $tmp (logs, configs, collector log)" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- namespaces and veths ---------------------------------------------------
t_setup=$(date +%s.%N)
ip netns add "$A"
ip netns add "$B"
for ns in "$A" "$B"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done
for ((i = 1; i <= n; i++)); do echo "link add gws$i type veth peer name gwp$i netns $B"; done > "$tmp/add"
ip -n "$A" -batch "$tmp/add"
for ((i = 1; i <= n; i++)); do echo "link set gws$i up"; done | ip -n "$A" -batch -
for ((i = 1; i <= n; i++)); do echo "link set gwp$i up"; done | ip -n "$B" -batch -
have=$(ip -n "$A" -o link show type veth | grep -c ' gws[0-9]*@' || true)
((have == n)) || { echo "only $have of $n veths in $A" >&2; exit 1; }
t_setup=$(awk -v a="$t_setup" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')

# --- collector ----------------------------------------------------------------
names=(gwd)
[[ -n $hsf ]] && names+=(hsflowd)
ip netns exec "$A" python3 "$here/sflowcount.py" record "$tmp/ports" "$tmp/log" "${names[@]}" &
cpid=$!
pids+=("$cpid")
for ((i = 0; i < 100; i++)); do [[ -s $tmp/ports ]] && break; sleep 0.1; done
[[ -s $tmp/ports ]] || { echo "the collector did not start" >&2; exit 1; }
port() { awk -v n="$1" '$1 == n {print $2}' "$tmp/ports"; }

# --- agents -------------------------------------------------------------------
cat > "$tmp/gwd.yaml" <<CONF
polling: ${polling}s
agent:
  address: 127.0.0.1
host:
  interfaces:
    include: '^gws[0-9]+\$'
collectors:
  - address: 127.0.0.1
    port: $(port gwd)
modules:
  ovs: {enabled: false}
  nvml: {enabled: false}
  asic: {enabled: false}
CONF
# Its own pid-file directory, where gwd has one (the default, /run/gwd,
# would keep this gwd or the box's from starting).
rundir=()
"$bin" run --help 2>&1 | grep -q -- -run-dir && rundir=(--run-dir "$tmp/run")
exec_gwd=$(date +%s.%N)
ip netns exec "$A" "$bin" run ${GWD_ARGS:-} --config "$tmp/gwd.yaml" "${rundir[@]}" > "$tmp/gwd.log" 2>&1 &
gpid=$!
pids+=("$gpid")
agents=("$gpid")
if [[ -n $hsf ]]; then
  # The regex unquoted: hsflowd 2.1.25's tokenizer leaves the last two
  # characters of a quoted value behind (a parse error).
  cat > "$tmp/hsflowd.conf" <<CONF
sflow {
  agentIP = 127.0.0.1
  polling = $polling
  collector { ip = 127.0.0.1 udpport = $(port hsflowd) }
  dent { switchport = ^gws[0-9]+\$ }
}
CONF
  exec_hsf=$(date +%s.%N)
  # -d: foreground, no debug; -p/-o: its pid and .auto files in the temp dir.
  ip netns exec "$A" "$hsf" -d -f "$tmp/hsflowd.conf" -p "$tmp/hsflowd.pid" -o "$tmp/hsflowd.auto" \
    -l "$hsfmods" > "$tmp/hsflowd.log" 2>&1 &
  hpid=$!
  pids+=("$hpid")
  agents+=("$hpid")
fi

alive() {
  local p
  for p in "${agents[@]}"; do
    kill -0 "$p" 2>/dev/null && continue
    echo "agent $p exited; its log:" >&2
    tail -n 20 "$tmp"/*.log >&2
    exit 1
  done
}
# Until every agent has sent a datagram (at most 60 s + 3 intervals).
deadline=$((SECONDS + 60 + 3 * polling))
while ((SECONDS < deadline)); do
  alive
  ok=1
  for name in "${names[@]}"; do grep -q "^$name " "$tmp/log" || ok=0; done
  ((ok)) && break
  sleep 0.2
done
sleep "$warm"
alive

# --- measurement ----------------------------------------------------------------
# utime+stime of the process (all threads, exited ones too; 10 ms ticks) and
# the sum of its threads' schedstat run time (ns) as a finer cross-check.
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
sched() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
hz=$(getconf CLK_TCK)
declare -A c0 c1 s0 s1
t0=$(date +%s.%N)
for p in "${agents[@]}" "$cpid"; do c0[$p]=$(ticks "$p"); s0[$p]=$(sched "$p"); done
sleep "$dur"
t1=$(date +%s.%N)
for p in "${agents[@]}" "$cpid"; do c1[$p]=$(ticks "$p"); s1[$p]=$(sched "$p"); done
alive
msps() { awk -v a="${c0[$1]}" -v b="${c1[$1]}" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
  'BEGIN {printf "%.3f", (b - a) * 1000 / hz / (t1 - t0)}'; }
smsps() { awk -v a="${s0[$1]}" -v b="${s1[$1]}" -v t0="$t0" -v t1="$t1" \
  'BEGIN {printf "%.3f", (b - a) / 1e6 / (t1 - t0)}'; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
args=(--agent gwd "$exec_gwd" "$(msps "$gpid")" "$(smsps "$gpid")" "$(rss "$gpid")")
[[ -n $hsf ]] && args+=(--agent hsflowd "$exec_hsf" "$(msps "$hpid")" "$(smsps "$hpid")" "$(rss "$hpid")")
ccpu=$(msps "$cpid")
kill "$cpid"
for ((i = 0; i < 50; i++)); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done

gv=$("$bin" version 2>/dev/null | head -n 1 || true)
hv=
[[ -n $hsf ]] && hv="; hsflowd: $("$hsf" -v 2>&1 | awk '{print $NF}')$(cat "$(dirname "$hsfmods")/COMMIT" 2>/dev/null | sed 's/^/ commit /' || true)"
echo "# N=$n veth pairs set up in ${t_setup}s; warm-up ${warm}s; window ${dur}s; gwd: ${gv:-?}$hv; collector cpu=${ccpu}ms/s"
python3 "$here/sflowcount.py" report "$tmp/log" --window "$t0" "$t1" --polling "$polling" --expect "$n" "${args[@]}"
