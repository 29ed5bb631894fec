#!/usr/bin/env bash
# Measures gwd's footprint: runs `gwd run` for DURATION seconds (default 60)
# with host and interface counters at polling 5 s to a local counting
# collector (scripts/sflowcount.py), then prints peak and final RSS and the
# CPU time it used.
#
# When the reference agent hsflowd is installed ($HSFLOWD, default
# /usr/local/sbin/hsflowd-ref, modules in $HSFLOWD_MODULES, default
# /usr/local/lib/hsflowd-ref/modules), it runs beside gwd in the same run with
# the same work: host counters (2:1) and the counters of the interfaces gwd
# selects by default (physical and bond interfaces, given to hsflowd as
# switch ports through `dent { switchport = ... }`) at polling 5, and gets a
# line of its own. It starts first, and gwd once hsflowd has sent its first
# interface counters or after 20 s (see below); both are measured over the
# same window. scripts/scale.sh 1 60 5 is the same comparison on a veth that
# hsflowd reliably polls.
# HSFLOWD= (empty) leaves it out.
set -euo pipefail
dur=${1:-60}
bin=${GWD:-bin/gwd}
here=$(cd "$(dirname "$0")" && pwd)
hsf=${HSFLOWD-/usr/local/sbin/hsflowd-ref}
hsfmods=${HSFLOWD_MODULES:-/usr/local/lib/hsflowd-ref/modules}
[[ -n $hsf && -x $hsf ]] || hsf=
tmp=$(mktemp -d)
pids=()
source "$(dirname "$0")/lib.sh"
cleanup() {
  trap - EXIT INT TERM
  stop_pids "${pids[@]}"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

names=(gwd)
[[ -n $hsf ]] && names+=(hsflowd)
python3 "$here/sflowcount.py" record "$tmp/ports" "$tmp/log" "${names[@]}" &
cpid=$!
pids+=("$cpid")
for ((i = 0; i < 100; i++)); do [[ -s $tmp/ports ]] && break; sleep 0.1; done
[[ -s $tmp/ports ]] || { echo "the collector did not start" >&2; exit 1; }
port() { awk -v n="$1" '$1 == n {print $2}' "$tmp/ports"; }

cat > "$tmp/gwd.yaml" <<CONF
polling: 5s
collectors:
  - address: 127.0.0.1
    port: $(port gwd)
CONF
agents=()
if [[ -n $hsf ]]; then
  # gwd's default interfaces: those with a device (physical) or bonding dir.
  ifs=$(for d in /sys/class/net/*; do
    [[ -e $d/device || -e $d/bonding ]] && basename "$d"
  done | paste -sd '|' || true)
  {
    echo "sflow {"
    echo "  polling = 5"
    echo "  collector { ip = 127.0.0.1 udpport = $(port hsflowd) }"
    # Unquoted: hsflowd 2.1.25's tokenizer mangles a quoted value.
    [[ -n $ifs ]] && echo "  dent { switchport = ^($ifs)\$ }"
    echo "}"
  } > "$tmp/hsflowd.conf"
  # -d: foreground, no debug; -p/-o: its pid and .auto files in the temp dir.
  "$hsf" -d -f "$tmp/hsflowd.conf" -p "$tmp/hsflowd.pid" -o "$tmp/hsflowd.auto" -l "$hsfmods" \
    > "$tmp/hsflowd.log" 2>&1 &
  hpid=$!
  pids+=("$hpid")
  agents+=("hsflowd $hpid")
  # hsflowd 2.1.25 creates switch-port pollers only when its interface list
  # changes (configSwitchPorts), and mod_dent marks the ports after the first
  # call: on a box whose interfaces do not change it sends no interface
  # counters at all. Wait up to 20 s for them (they come when something on
  # the box adds or removes an interface); the line says when they did not.
  hifs=0
  if [[ -n $ifs ]]; then
    deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
      grep -q '^hsflowd .* \(0:\|[^ ]*,0:\)' "$tmp/log" && { hifs=1; break; }
      kill -0 "$hpid" 2>/dev/null || break
      sleep 0.5
    done
  fi
fi
# Its own pid-file directory, where gwd has one (the default, /run/gwd,
# would keep this gwd or the box's from starting).
rundir=()
"$bin" run --help 2>&1 | grep -q -- -run-dir && rundir=(--run-dir "$tmp/run")
"$bin" run --config "$tmp/gwd.yaml" "${rundir[@]}" > "$tmp/gwd.log" 2>&1 &
pid=$!
pids+=("$pid")
agents=("gwd $pid" "${agents[@]}")
cpu() { cat /proc/$1/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
sleep 5 # start-up: configuration, first interface scan, NVML probe
declare -A start_ns
for a in "${agents[@]}"; do
  read -r name p <<< "$a"
  kill -0 "$p" 2>/dev/null || { echo "$name exited:" >&2; tail -n 20 "$tmp/$name.log" >&2; exit 1; }
  start_ns[$name]=$(cpu "$p")
done
sleep "$dur"
hz=$(getconf CLK_TCK)
out=()
for a in "${agents[@]}"; do
  read -r name p <<< "$a"
  kill -0 "$p" 2>/dev/null || { echo "$name exited:" >&2; tail -n 20 "$tmp/$name.log" >&2; exit 1; }
  read -r utime stime < <(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12, $13}')
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status")
  run_ns=$(cpu "$p")
  s=${start_ns[$name]}
  out+=("$name $rss $hwm $(( (run_ns - s) / 1000000 )) $((s / 1000000)) $(( (utime + stime) * 1000 / hz ))")
done
for a in "${agents[@]}"; do read -r name p <<< "$a"; kill "$p"; done
sleep 1
kill "$cpid"
for ((i = 0; i < 50; i++)); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
for o in "${out[@]}"; do
  read -r name rss hwm run start ticks <<< "$o"
  dgs=$(grep -c "^$name " "$tmp/log" || true)
  srcs=$(awk -v n="$name" '$1 == n && $5 != "-" {k = split($5, a, ","); for (i = 1; i <= k; i++) s[a[i]] = 1} END {for (x in s) print x}' "$tmp/log" | sort -V | paste -sd ' ' || true)
  extra=
  if [[ $name == hsflowd ]]; then
    extra=" (hsflowd $("$hsf" -v 2>&1 | awk '{print $NF}'), switch ports: ${ifs:-none}"
    ((hifs)) || extra+="; NO interface counters at the start: not the same work as gwd"
    extra+=")"
  fi
  echo "$name footprint over ${dur}s at polling 5s (after 5s of start-up): RSS ${rss} kB (peak ${hwm} kB), CPU ${run} ms in the ${dur}s, ${start} ms for start-up; ticks since start ${ticks} ms; ${dgs} datagrams received, sources ${srcs:-none}$extra"
done
