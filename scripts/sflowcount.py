#!/usr/bin/env python3
"""A counting sFlow v5 collector for the measurement scripts (scale.sh,
footprint.sh). It reads only the datagram and sample headers, so that it
costs the agents it measures as little CPU as possible.

  sflowcount.py record PORTFILE LOG NAME [NAME...]
      Binds one UDP socket on 127.0.0.1 (a free port) per NAME, writes
      "NAME PORT" lines to PORTFILE once all are bound, then appends one line
      per datagram to LOG: "NAME TIME BYTES NSAMPLES SRC,SRC,..." where TIME
      is time.time() at receipt and SRC the type:index of each counter
      sample (flow samples are counted in NSAMPLES only). Flushes LOG every
      half second; stops on SIGTERM or SIGINT.

  sflowcount.py report LOG --window T0 T1 --polling P --expect N
                 --agent NAME EXEC_T CPU_MS_PER_S SCHED_MS_PER_S RSS_KB [--agent ...]
      Prints one line per agent for the datagrams received in [T0, T1)
      (CPU_MS_PER_S: from utime+stime; SCHED_MS_PER_S: from the threads'
      schedstat, nanoseconds, which us/ifsample uses):
      datagrams/s, counter samples/s, interface (0:*) samples/s, distinct
      0:* sources per polling interval (mean, and min and max when they
      differ, on the interval grid phase that suits the agent best: see
      per_interval),
      distinct 0:* sources over the window against N, the longest time an
      interface went without a sample (max_gap, window edges included), largest
      datagram, and from EXEC_T (the agent's exec) the first datagram and
      the first 2:1 sample at any time.
"""
import os
import selectors
import signal
import socket
import struct
import sys
import time


def sources(b):
    """Number of samples and the counter samples' sources of one datagram."""
    u32 = struct.Struct(">I").unpack_from
    if len(b) < 28 or u32(b, 0)[0] != 5:
        return 0, []
    off = 8 + (16 if u32(b, 4)[0] == 2 else 4)
    off += 12  # sub-agent, sequence, uptime
    n = u32(b, off)[0]
    off += 4
    out = []
    for _ in range(n):
        if off + 8 > len(b):
            break
        tag, ln = struct.unpack_from(">II", b, off)
        body = off + 8
        if tag == 2 and body + 8 <= len(b):  # counter sample
            src = u32(b, body + 4)[0]
            out.append("%d:%d" % (src >> 24, src & 0xFFFFFF))
        elif tag == 4 and body + 12 <= len(b):  # expanded counter sample
            t, i = struct.unpack_from(">II", b, body + 4)
            out.append("%d:%d" % (t, i))
        off = body + ln
    return n, out


def record(portfile, logpath, names):
    sel = selectors.DefaultSelector()
    ports = []
    for name in names:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, name)
        ports.append("%s %d\n" % (name, s.getsockname()[1]))
    with open(portfile + ".tmp", "w") as f:
        f.writelines(ports)
    os.rename(portfile + ".tmp", portfile)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    log = open(logpath, "a", buffering=1 << 20)
    last = time.time()
    while not stop:
        for key, _ in sel.select(0.5):
            for _ in range(256):  # bounded: let the other socket in
                try:
                    b = key.fileobj.recv(65536)
                except BlockingIOError:
                    break
                t = time.time()
                n, src = sources(b)
                log.write("%s %.6f %d %d %s\n" % (key.data, t, len(b), n, ",".join(src) or "-"))
        now = time.time()
        if now - last >= 0.5:
            log.flush()
            last = now
    log.close()


def g3(x):
    """x with three significant digits, without an exponent."""
    return "%.0f" % x if x >= 100 else "%.3g" % x if x >= 0.001 else "0"


def per_interval(times, t0, polling, nint, phases=20):
    """Distinct sources in each of the nint whole polling intervals of the
    window, on the grid phase (t0 + j*polling/phases) that gives the largest
    minimum: an agent that polls every interface in one burst and a grid
    edge that falls in its bursts would otherwise show two rounds in one
    interval and none in the next."""
    best = []
    for j in range(phases if nint > 1 else 1):
        start = t0 + j * polling / phases
        n = nint - 1 if j else nint
        per = [set() for _ in range(n)]
        for x, ts in times.items():
            for t in ts:
                k = int((t - start) // polling)
                if 0 <= k < n:
                    per[k].add(x)
        counts = [len(p) for p in per]
        if counts and (not best or (min(counts), sum(counts) / len(counts)) >
                       (min(best), sum(best) / len(best))):
            best = counts
    return best


def report(argv):
    logpath = argv[0]
    args = argv[1:]
    agents = []
    t0 = t1 = None
    polling = 1.0
    expect = 0
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--window":
            t0, t1 = float(args[i + 1]), float(args[i + 2])
            i += 3
        elif a == "--polling":
            polling = float(args[i + 1])
            i += 2
        elif a == "--expect":
            expect = int(args[i + 1])
            i += 2
        elif a == "--agent":
            agents.append((args[i + 1], float(args[i + 2]), float(args[i + 3]),
                           float(args[i + 4]), int(args[i + 5])))
            i += 6
        else:
            sys.exit("report: unknown argument " + a)
    st = {a[0]: {"first": None, "first21": None, "dg": 0, "cs": 0, "ifs": 0,
                 "max": 0, "all": {}} for a in agents}
    nint = int((t1 - t0) // polling) if polling > 0 else 0
    with open(logpath) as f:
        for line in f:
            p = line.split()
            if len(p) != 5 or p[0] not in st:
                continue
            s = st[p[0]]
            t = float(p[1])
            srcs = [] if p[4] == "-" else p[4].split(",")
            if s["first"] is None:
                s["first"] = t
            if s["first21"] is None and "2:1" in srcs:
                s["first21"] = t
            if not (t0 <= t < t1):
                continue
            s["dg"] += 1
            s["max"] = max(s["max"], int(p[2]))
            s["cs"] += len(srcs)
            for x in srcs:
                if x.startswith("0:"):
                    s["ifs"] += 1
                    s["all"].setdefault(x, []).append(t)
    dur = t1 - t0
    for name, exec_t, cpu, sched, rss in agents:
        s = st[name]
        ifrate = s["ifs"] / dur
        per = per_interval(s["all"], t0, polling, nint)
        mean = sum(per) / len(per) if per else 0
        srci = "%.0f" % mean
        if per and min(per) != max(per):
            srci += "(min=%d,max=%d)" % (min(per), max(per))
        # The longest time any interface went without a sample (window edges
        # included): about POLLING when every interface is polled every interval.
        gap = 0.0
        for ts in s["all"].values():
            gap = max(gap, ts[0] - t0, t1 - ts[-1], *(b - a for a, b in zip(ts, ts[1:])))
        gap = "%.2fs" % gap if len(s["all"]) >= expect and s["all"] else "inf"
        us = g3(sched * 1000 / ifrate) if ifrate else "-"  # the finer of the two
        fd = "%.2fs" % (s["first"] - exec_t) if s["first"] else "never"
        f21 = "%.2fs" % (s["first21"] - exec_t) if s["first21"] else "never"
        print("%-7s N=%d polling=%gs cpu=%sms/s sched=%sms/s us/ifsample=%s dgrams/s=%s samples/s=%s "
              "ifsamples/s=%s sources/interval=%s ifsources=%d/%d max_gap=%s max_dgram=%d first_dgram=%s "
              "first_2:1=%s rss=%.1fMB"
              % (name, expect, polling, g3(cpu), g3(sched), us, g3(s["dg"] / dur), g3(s["cs"] / dur),
                 g3(ifrate), srci,
                 len(s["all"]), expect, gap, s["max"], fd, f21, rss / 1024))


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) >= 3 and sys.argv[1] == "report":
        report(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
