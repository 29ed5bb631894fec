// gwd status page: polls the JSON API (docs/api.md) every 2 s.
"use strict";

const api = (p) => fetch("api/v1/" + p, { cache: "no-store" }).then((r) => {
  if (!r.ok) throw new Error(p + ": HTTP " + r.status);
  return r.json();
});

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function num(n) {
  return Number(n).toLocaleString("en-US");
}

function si(n, unit) {
  const p = ["", "k", "M", "G", "T", "P"];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < p.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + " " + p[i] + unit;
}

function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
}

const SVG = "http://www.w3.org/2000/svg";
function spark(inb, outb) {
  const w = 120, h = 24, svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  const top = Math.max(1, ...inb, ...outb);
  for (const [vals, cls] of [[inb, "in"], [outb, "out"]]) {
    if (vals.length < 2) continue;
    const pl = document.createElementNS(SVG, "polyline");
    const step = w / (60 - 1), x0 = w - step * (vals.length - 1);
    pl.setAttribute("points", vals.map((v, i) => (x0 + i * step).toFixed(1) + "," + (h - 1 - (v / top) * (h - 2)).toFixed(1)).join(" "));
    pl.setAttribute("class", cls);
    svg.append(pl);
  }
  return svg;
}

function keyCounters(d) {
  const c = d.counters || {}, g = d.gauges || {}, out = [];
  if ("in_octets" in c) out.push("in " + si(c.in_octets, "B") + " / out " + si(c.out_octets, "B"));
  if ("in_packets" in c) out.push(num(c.in_packets) + " / " + num(c.out_packets) + " pkts");
  if (c.in_errors || c.out_errors) out.push("errors " + num(c.in_errors) + " / " + num(c.out_errors));
  if ("speed_bps" in g && g.speed_bps) out.push(si(g.speed_bps, "b/s"));
  if ("load_one" in g) out.push("load " + g.load_one.toFixed(2) + " on " + g.cpu_num + " CPUs");
  if ("mem_total_bytes" in g) out.push("mem free " + si(g.mem_free_bytes, "B") + " of " + si(g.mem_total_bytes, "B"));
  if ("gpu_count" in g) out.push(g.gpu_count + " GPU, " + g.gpu_temperature_c + " °C");
  if (d.flow_samples) out.push(num(d.flow_samples) + " flow samples");
  return out.join(", ") || (d.records.length ? d.records.join(" ") : "no sample yet");
}

function rate(v) {
  return v.length ? si(v[v.length - 1], "b/s") : "";
}

function render(st, cols, srcs, dss, flows) {
  document.getElementById("version").textContent = st.version;
  document.getElementById("agent-address").textContent = st.agent.address || "none";
  document.getElementById("agent-reason").textContent = (st.agent.interface ? st.agent.interface + ": " : "") + st.agent.reason;
  document.getElementById("sub-agent").textContent = st.sub_agent;
  document.getElementById("host").textContent = st.hostname || "—";
  document.getElementById("uuid").textContent = st.uuid || "—";
  document.getElementById("uptime").textContent = duration(st.uptime_seconds);
  document.getElementById("polling").textContent = "every " + st.polling_seconds + " s";
  document.getElementById("tap").textContent = num(st.tap.datagrams) + " datagrams seen, " + num(st.tap.dropped) + " dropped, " + num(st.tap.decode_errors) + " undecodable";

  fill(document.querySelector("#collectors tbody"), cols.length ? cols.map((c) => el("tr", {},
    el("td", {}, c.collector), el("td", { class: "num" }, num(c.datagrams)), el("td", { class: "num" }, si(c.bytes, "B")),
    el("td", { class: "num " + (c.errors ? "bad" : "") }, num(c.errors)), el("td", { class: "bad" }, c.last_error))) :
    [el("tr", {}, el("td", { colspan: 5, class: "dim" }, "no collector configured"))]);

  fill(document.querySelector("#module-table tbody"), srcs.modules.map((m) => el("tr", {},
    el("td", {}, m.name), el("td", {}, m.mode),
    el("td", { class: m.running ? "ok" : m.mode === "false" ? "off" : "dim" }, m.running ? "running" : m.mode === "false" ? "off" : "not running"),
    el("td", { class: "dim wrap" }, m.mode === "false" ? "" : m.detail))));
  fill(document.querySelector("#source-table tbody"), srcs.sources.map((s) => el("tr", {},
    el("td", {}, s.name), el("td", { class: s.healthy ? "ok" : "bad" }, s.healthy ? "healthy" : "unhealthy"),
    el("td", { class: "num" }, num(s.poll_errors)), el("td", { class: "bad wrap" }, s.last_error))));

  const hw = srcs.modules.filter((m) => ["ovs", "nvml", "asic"].includes(m.name) && m.mode !== "false");
  const hws = document.getElementById("hardware");
  hws.hidden = hw.length === 0;
  const health = Object.fromEntries(srcs.sources.map((s) => [s.name, s]));
  fill(hws.querySelector("ul"), hw.map((m) => {
    const h = health[m.name];
    return el("li", {}, el("b", {}, { ovs: "OVS", nvml: "GPU (NVML)", asic: "ASIC" }[m.name] + ": "),
      el("span", { class: m.running ? "ok" : "dim" }, m.running ? "running" : "not running"),
      " " + (m.detail || ""), el("span", { class: "bad" }, h && !h.healthy && !(m.detail || "").includes(h.last_error) ? " — " + h.last_error : ""));
  }));

  document.getElementById("ds-count").textContent = dss.length;
  fill(document.querySelector("#datasources tbody"), dss.map((d) => el("tr", { "data-id": d.id },
    el("td", {}, d.id), el("td", {}, d.kind), el("td", {}, d.label), el("td", { class: "dim" }, d.contributors.join("+") || "—"),
    el("td", {}, keyCounters(d)),
    el("td", {}, spark(d.in_bps, d.out_bps), " ", el("span", { class: "dim" }, d.in_bps.length ? rate(d.in_bps) + " / " + rate(d.out_bps) : "")))));

  fill(document.querySelector("#talkers tbody"), flows.top_talkers.length ? flows.top_talkers.map((t) => el("tr", {},
    el("td", {}, t.src), el("td", {}, t.dst), el("td", { class: "num" }, num(t.samples)),
    el("td", { class: "num" }, si(t.sampled_bytes, "B")), el("td", { class: "num" }, si(t.estimated_bytes, "B")))) :
    [el("tr", {}, el("td", { colspan: 5, class: "dim" }, "no flow samples in the last minute"))]);
  const proto = { 1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP" };
  const ep = (a, p) => a ? (a.includes(":") ? "[" + a + "]" : a) + (p ? ":" + p : "") : "";
  fill(document.querySelector("#recent tbody"), flows.recent.length ? flows.recent.slice(0, 20).map((f) => el("tr", {},
    el("td", {}, new Date(f.time).toLocaleTimeString()), el("td", {}, f.data_source), el("td", {}, f.input), el("td", {}, f.output),
    el("td", {}, proto[f.protocol] || f.protocol), el("td", {}, ep(f.src, f.src_port)), el("td", {}, ep(f.dst, f.dst_port)),
    el("td", { class: "num" }, f.frame_length), el("td", { class: "num" }, "1:" + f.sampling_rate))) :
    [el("tr", {}, el("td", { colspan: 9, class: "dim" }, "no flow sample sent yet"))]);
}

async function refresh() {
  const upd = document.getElementById("updated");
  try {
    const [st, cols, srcs, dss, flows] = await Promise.all([api("status"), api("collectors"), api("sources"), api("datasources"), api("flows")]);
    render(st, cols, srcs, dss, flows);
    upd.textContent = "updated " + new Date().toLocaleTimeString();
    upd.dataset.updates = String(Number(upd.dataset.updates || 0) + 1);
  } catch (e) {
    upd.textContent = "cannot reach gwd: " + e.message;
  }
}

refresh();
setInterval(refresh, 2000);
