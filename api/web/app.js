// offtake dashboard: plain JS, no build step, no CDN. Reads /api/v1 with the
// token kept in this browser, then follows /api/v1/events (Server-Sent
// Events): `positions` replaces the numbers, `intervals` extends the charts.
"use strict";

const state = { token: "", me: null, sites: [], series: {}, report: null, es: null, prev: {} };
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}
const num = (s) => (s === undefined || s === null ? null : Number(s));
function group(x, digits) {
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function fmtMWh(s, digits = 1) { const x = num(s); return x === null ? "—" : group(x, digits); }
function fmtUSD(s) { const x = num(s); return x === null ? "—" : (x < 0 ? "−$" : "$") + group(Math.abs(x), 2); }
function compactUSD(s) {
  const x = num(s); if (x === null) return "—";
  const a = Math.abs(x), sign = x < 0 ? "−" : "";
  if (a >= 1e6) return sign + "$" + (a / 1e6).toFixed(2) + "M";
  if (a >= 1e3) return sign + "$" + (a / 1e3).toFixed(1) + "k";
  return sign + "$" + a.toFixed(2);
}
function compactMWh(s) {
  const x = num(s); if (x === null) return "—";
  return Math.abs(x) >= 1e4 ? group(x / 1e3, 1) + " GWh" : group(x, 0) + " MWh";
}
function signed(s, f) { const x = num(s); if (x === null) return "—"; return (x > 0 ? "+" : "") + f(s); }
function cls(s) { const x = num(s); return x === null || x === 0 ? "" : x > 0 ? "pos" : "neg"; }

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + state.token } });
  if (r.status === 401) throw Object.assign(new Error("the token was refused"), { status: 401 });
  if (!r.ok) throw Object.assign(new Error((await r.json()).error || r.statusText), { status: r.status });
  return r.json();
}

// ---------- sign in ----------
function start() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) { localStorage.setItem("offtake.token", hash.get("token")); history.replaceState(null, "", location.pathname); }
  state.token = localStorage.getItem("offtake.token") || "";
  $("loginform").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem("offtake.token", $("token").value.trim());
    location.reload();
  });
  $("signout").addEventListener("click", () => { localStorage.removeItem("offtake.token"); location.reload(); });
  if (!state.token) return showLogin("");
  load().catch((e) => showLogin(e.message));
}
function showLogin(msg) {
  $("login").classList.remove("hidden");
  $("main").classList.add("hidden");
  $("loginerr").textContent = msg;
}

async function load() {
  state.me = await api("/api/v1/me");
  $("who").textContent = state.me.role + (state.me.party ? " · " + state.me.party : "");
  if (state.me.role === "operator") throw new Error("an operator token reads /metrics and /api/v1/status only");
  state.sites = (await api("/api/v1/sites")).sites;
  for (const s of state.sites) state.series[s.id] = (await api("/api/v1/sites/" + encodeURIComponent(s.id) + "/series")).points;
  $("main").classList.remove("hidden");
  buildSites();
  render(await api("/api/v1/positions"));
  connect();
}

// ---------- live ----------
function connect() {
  if (state.es) state.es.close();
  const es = new EventSource("/api/v1/events?access_token=" + encodeURIComponent(state.token));
  state.es = es;
  es.onopen = () => {
    setConn(true);
    if (state.down) refetchSeries(); // intervals booked while disconnected
    state.down = false;
  };
  es.onerror = () => { setConn(false); state.down = true; };
  es.addEventListener("positions", (e) => render(JSON.parse(e.data)));
  es.addEventListener("intervals", (e) => {
    const pts = JSON.parse(e.data).points;
    for (const p of pts) addPoint(p);
    for (const s of state.sites) drawChart(s.id);
  });
}
async function refetchSeries() {
  for (const s of state.sites) {
    try { state.series[s.id] = (await api("/api/v1/sites/" + encodeURIComponent(s.id) + "/series")).points; drawChart(s.id); } catch (e) { /* retried on the next reconnect */ }
  }
}
function setConn(on) {
  const c = $("conn");
  c.className = "pill " + (on ? "on" : "off");
  c.textContent = on ? "live" : "reconnecting";
}
function addPoint(p) {
  const list = state.series[p.site] || (state.series[p.site] = []);
  const i = list.findIndex((q) => q.start === p.start);
  if (i >= 0) list[i] = p; else list.push(p);
  list.sort((a, b) => (a.start < b.start ? -1 : 1));
  const end = new Date(list[list.length - 1].end).getTime();
  while (list.length && new Date(list[0].start).getTime() < end - 48 * 3600e3) list.shift();
}

// ---------- site cards ----------
function buildSites() {
  const root = $("sites");
  root.textContent = "";
  for (const s of state.sites) {
    const wrap = el("div", "site");
    wrap.id = "site-" + s.id;
    const card = el("div", "card");
    const title = el("div", "title");
    title.append(el("h2", "", s.name), el("span", "muted small", s.market + " · " + s.time_zone + (s.capacity_mw !== "0" ? " · " + group(num(s.capacity_mw), 0) + " MW" : "")));
    card.append(title, el("div", "kpis"), el("div", "split"), el("table", "loads"));
    const chart = el("div", "card chart");
    const ch = el("div", "cardhead");
    ch.append(el("h2", "", "Last 48 hours"), el("span", "muted small", "MW, average per interval"));
    chart.append(ch, svg("svg", { viewBox: "0 0 800 300", preserveAspectRatio: "none", role: "img" }), legend(s));
    wrap.append(card, chart);
    root.append(wrap);
    drawChart(s.id);
  }
}
function legend(s) {
  const l = el("div", "legend");
  const items = state.me.role === "trader" || s.capacity_mw !== "0"
    ? [["bg-ppa", "allocated to PPAs"], ["bg-export", "exported"], ["bg-gen", "net generation"], ["bg-load", "load"], ["bg-import", "imported (below zero)"]]
    : [["bg-ppa", "supplied by the plant"], ["bg-import", "imported (below zero)"], ["bg-load", "your load"]];
  for (const [c, t] of items) { const i = el("span"); i.append(el("span", "dot " + c), document.createTextNode(t)); l.append(i); }
  return l;
}
function kpi(k, v, sub, c) {
  const d = el("div", "kpi");
  const vv = el("div", "v " + (c || ""), v);
  d.append(el("div", "k", k), vv, el("div", "s", sub || ""));
  return d;
}
function renderSite(s) {
  const wrap = $("site-" + s.id);
  if (!wrap) return;
  const card = wrap.firstChild;
  const kpis = card.querySelector(".kpis"), split = card.querySelector(".split"), loads = card.querySelector(".loads");
  kpis.textContent = ""; split.textContent = ""; loads.textContent = "";
  const plant = s.net_mwh !== undefined && s.gross_mwh !== undefined && (state.me.role === "trader" || s.owner === state.me.party);
  if (plant) {
    kpis.append(
      kpi("Net generation", compactMWh(s.net_mwh), "capacity factor " + num(s.capacity_factor_percent).toFixed(1) + "%"),
      kpi("PPA revenue", compactUSD(s.ppa_revenue_usd), fmtMWh(s.sold_ppa_mwh, 0) + " MWh sold"),
      kpi("Export revenue", compactUSD(s.export_usd), s.export_usd_per_mwh ? "avg $" + num(s.export_usd_per_mwh).toFixed(2) + "/MWh" : "no exports"),
      kpi("Fuel cost", s.fuel_usd ? compactUSD(s.fuel_usd) : "—", s.fuel_usd_per_mmbtu ? s.fuel_index + " $" + num(s.fuel_usd_per_mmbtu).toFixed(2) + "/MMBtu" : "no gas index price"),
      kpi("Spark spread", s.spark_spread_usd ? compactUSD(s.spark_spread_usd) : "—", s.spark_spread_usd_per_mwh ? "$" + num(s.spark_spread_usd_per_mwh).toFixed(2) + " per net MWh" : "", cls(s.spark_spread_usd)),
      marked(s));
    const sold = num(s.sold_ppa_mwh), exp = num(s.export_mwh), tot = sold + exp || 1;
    const bar = el("div", "bar");
    const a = el("span", "bg-ppa"), b = el("span", "bg-export");
    a.style.width = (100 * sold / tot).toFixed(2) + "%"; b.style.width = (100 * exp / tot).toFixed(2) + "%";
    bar.append(a, b);
    const lg = el("div", "legend");
    const l1 = el("span"); l1.append(el("span", "dot bg-ppa"), document.createTextNode("sold under PPAs " + (100 * sold / tot).toFixed(1) + "%"));
    const l2 = el("span"); l2.append(el("span", "dot bg-export"), document.createTextNode("exported " + (100 * exp / tot).toFixed(1) + "%"));
    lg.append(l1, l2);
    split.append(bar, lg);
  }
  if (!plant) {
    let load = 0, plantMWh = 0, cost = 0;
    for (const l of s.loads || []) { load += num(l.load_mwh); plantMWh += num(l.from_plant_mwh); cost += num(l.import_usd); }
    const own = (state.report ? state.report.contracts : []).filter((c) => c.site === s.id);
    let amount = 0;
    for (const c of own) amount += num(c.amount_usd);
    kpis.append(
      kpi("Your load", compactMWh(load), "month to date"),
      kpi("From the plant", compactMWh(plantMWh), load ? (100 * plantMWh / load).toFixed(1) + "% of your load" : ""),
      kpi("PPA amount", compactUSD(amount), own.length + " contract" + (own.length === 1 ? "" : "s")),
      kpi("Import cost", compactUSD(cost), "at the load node"));
  }
  const head = el("tr");
  for (const [t, c] of [["data center", ""], ["load MWh", "r"], ["hourly matched", "r"], ["import cost", "r"]]) head.append(el("td", "muted small " + c, t));
  loads.append(head);
  for (const l of s.loads || []) {
    const tr = el("tr");
    const m = el("td", "r");
    const meter = el("span", "meter"), fill = el("span");
    fill.style.width = Math.min(100, num(l.hourly_matched_percent)).toFixed(1) + "%";
    meter.append(fill);
    m.append(meter, document.createTextNode(num(l.hourly_matched_percent).toFixed(1) + "%"));
    tr.append(el("td", "", l.name), el("td", "r", fmtMWh(l.load_mwh, 0)), m, el("td", "r", fmtUSD(l.import_usd)));
    loads.append(tr);
  }
}

// marked is the mark-to-market tile: the site's contracts with a contracted
// volume left this month, against the forward curve.
function marked(s) {
  const own = (state.report ? state.report.contracts : []).filter((c) => c.site === s.id && c.mtm);
  if (!own.length) return kpi("MTM rest of month", "—", "no contracted volume left");
  let rest = 0;
  for (const c of own) rest += num(c.mtm.remaining_mwh);
  return kpi("MTM rest of month", compactUSD(s.mtm_usd), compactMWh(rest) + " vs forward curve", cls(s.mtm_usd));
}

// ---------- chart ----------
function drawChart(siteId) {
  const wrap = $("site-" + siteId);
  if (!wrap) return;
  const box = wrap.querySelector("svg");
  box.textContent = "";
  const pts = state.series[siteId] || [];
  const W = 800, H = 300, L = 52, R = 8, T = 10, B = 26;
  if (pts.length < 2) {
    const t = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#8b98a8" });
    t.textContent = "waiting for booked intervals…";
    box.append(t);
    return;
  }
  const site = state.sites.find((s) => s.id === siteId);
  const mins = site ? site.interval_minutes : 15;
  const mw = (s) => (num(s) || 0) * 60 / mins;
  const t0 = new Date(pts[0].start).getTime(), t1 = new Date(pts[pts.length - 1].end).getTime();
  const span = Math.max(t1 - t0, 48 * 3600e3), x0 = t1 - span;
  let ymax = 0, imax = 0;
  for (const p of pts) {
    ymax = Math.max(ymax, mw(p.net_mwh), mw(p.load_mwh), mw(p.delivered_mwh) + mw(p.export_mwh));
    imax = Math.max(imax, mw(p.import_mwh));
  }
  ymax = niceMax(ymax || 1);
  // Imports are drawn below zero: energy coming in from the grid.
  const step = ymax / 4, ymin = imax > 0 ? -step * Math.ceil(imax / step) : 0;
  const X = (t) => L + (W - L - R) * (t - x0) / span, Y = (v) => T + (H - T - B) * (ymax - v) / (ymax - ymin);
  const grid = svg("g", { class: "grid" }), axis = svg("g", { class: "axis" });
  for (let v = ymin; v <= ymax + 1e-9; v += step) {
    grid.append(svg("line", { x1: L, x2: W - R, y1: Y(v), y2: Y(v) }));
    const t = svg("text", { x: L - 6, y: Y(v) + 4, "text-anchor": "end" }); t.textContent = group(v, 0); axis.append(t);
  }
  if (ymin < 0) grid.append(svg("line", { x1: L, x2: W - R, y1: Y(0), y2: Y(0), stroke: "#8b98a8" }));
  const tz = site ? site.time_zone : "UTC";
  for (let h = Math.ceil(x0 / 6 / 3600e3) * 6 * 3600e3; h <= t1; h += 6 * 3600e3) {
    const t = svg("text", { x: X(h), y: H - 8, "text-anchor": "middle" });
    t.textContent = new Date(h).toLocaleString("en-US", { timeZone: tz, month: "short", day: "numeric", hour: "numeric" });
    axis.append(t);
  }
  box.append(grid, axis);
  const area = (lo, hi, color, op) => {
    let d = "";
    pts.forEach((p, i) => { d += (i ? "L" : "M") + X(new Date(p.start).getTime()).toFixed(1) + "," + Y(hi(p)).toFixed(1); });
    for (let i = pts.length - 1; i >= 0; i--) d += "L" + X(new Date(pts[i].start).getTime()).toFixed(1) + "," + Y(lo(pts[i])).toFixed(1);
    box.append(svg("path", { d: d + "Z", fill: color, "fill-opacity": op, stroke: "none" }));
  };
  const line = (f, color, w, dash) => {
    let d = "";
    pts.forEach((p, i) => { d += (i ? "L" : "M") + X(new Date(p.start).getTime()).toFixed(1) + "," + Y(f(p)).toFixed(1); });
    const a = { d, fill: "none", stroke: color, "stroke-width": w, "stroke-linejoin": "round" };
    if (dash) a["stroke-dasharray"] = dash;
    box.append(svg("path", a));
  };
  const plant = pts.some((p) => num(p.net_mwh) !== 0 || num(p.export_mwh) !== 0);
  area(() => 0, (p) => mw(p.delivered_mwh), "#3fb68b", 0.55);
  if (plant) area((p) => mw(p.delivered_mwh), (p) => mw(p.delivered_mwh) + mw(p.export_mwh), "#4c8dff", 0.45);
  area(() => 0, (p) => -mw(p.import_mwh), "#ef6461", 0.55);
  if (plant) line((p) => Math.max(0, mw(p.net_mwh)), "#f5a524", 2);
  line((p) => mw(p.load_mwh), "#e5e7eb", 1.6, "5 4");
}
function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v * 1.05) return m * p;
  return 10 * p;
}

// ---------- positions table ----------
function render(rep) {
  state.report = rep;
  $("period").textContent = rep.period || "—";
  let asOf = null;
  for (const s of rep.sites) { if (s.as_of && (!asOf || s.as_of > asOf)) asOf = s.as_of; renderSite(s); }
  if (asOf) {
    const site = rep.sites[0];
    $("asof").textContent = "as of " + new Date(asOf).toLocaleString("en-US", { timeZone: site.time_zone, month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short" }) +
      " · " + num(site.elapsed_percent).toFixed(1) + "% of the month";
  }
  const body = document.querySelector("#positions tbody");
  body.textContent = "";
  for (const c of rep.contracts) {
    const tr = el("tr");
    tr.dataset.contract = c.id;
    const cells = [
      ["l id", c.id], ["l", c.buyer_name],
      ["", fmtMWh(c.delivered_mwh, 3)], ["", fmtUSD(c.amount_usd)],
      ["", c.avg_usd_per_mwh ? "$" + num(c.avg_usd_per_mwh).toFixed(2) : "—"],
      ["", c.contracted_to_date_mwh ? fmtMWh(c.contracted_to_date_mwh, 0) : "—"],
      [cls(c.pace_mwh), c.pace_mwh ? signed(c.pace_mwh, (s) => fmtMWh(s, 0)) : "—"],
      [cls(c.minimum_take_pace_mwh), c.minimum_take_pace_mwh ? signed(c.minimum_take_pace_mwh, (s) => fmtMWh(s, 0)) : "—"],
      [num(c.shortfall_mwh) > 0 ? "neg" : "", fmtMWh(c.shortfall_mwh, 1)],
      [c.mtm ? cls(c.mtm.value_usd) : "", c.mtm ? fmtUSD(c.mtm.value_usd) : "—"],
    ];
    const prev = state.prev[c.id] || [];
    cells.forEach(([k, v], i) => {
      const td = el("td", k, v);
      if (prev.length && prev[i] !== v) td.classList.add("flash");
      tr.append(td);
    });
    state.prev[c.id] = cells.map((x) => x[1]);
    body.append(tr);
  }
  setTimeout(() => document.querySelectorAll("td.flash").forEach((td) => td.classList.remove("flash")), 50);
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

document.addEventListener("DOMContentLoaded", start);
