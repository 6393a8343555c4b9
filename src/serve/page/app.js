// textgan serve: the page. Plain DOM and uPlot; every number comes from /api (see
// src/serve/routes.rs). Polls every two seconds, so a run that trains updates in place.
"use strict";

const POLL_MS = 2000;
const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

const state = {
  runs: [],            // /api/runs's runs
  open: null,          // id of the opened run
  detail: null,        // /api/run of it
  overlay: new Set(),  // ids ticked to overlay
  metrics: new Map(),  // id -> {total, records}
  samples: new Map(),  // "id@iteration" -> lines
  charted: "",         // what the charts show now (to redraw only on change)
  listed: "",          // the run list as last drawn (to redraw only on change)
  pollError: false,    // the status line says the server cannot be reached
};

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "data") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function say(text, error = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", error);
}

async function api(path, params = {}) {
  // An undefined parameter is left out (the server's default), not sent as "undefined".
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined)).toString();
  const res = await fetch(`/api/${path}${q ? "?" + q : ""}`);
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(body.error || `${res.status}`);
  return body;
}

const fmt = {
  n: (x, d = 3) => (x == null ? "–" : Number(x).toFixed(d)),
  pct: (x) => (x == null ? "–" : (100 * x).toFixed(1) + "%"),
  time: (s) => {
    if (s == null) return "–";
    s = Math.round(s);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  },
};

function colorOf(id) {
  const i = state.runs.findIndex((r) => r.id === id);
  return COLORS[(i < 0 ? 0 : i) % COLORS.length];
}

// ---------------------------------------------------------------- runs table

function renderRuns(listing) {
  $("roots").textContent = "runs under " + listing.roots.join(", ") + (listing.truncated ? " (cut short: too many folders)" : "");
  const body = $("runs").tBodies[0];
  body.replaceChildren();
  for (const r of listing.runs) {
    const shown = r.id === state.open || state.overlay.has(r.id);
    const box = el("input", { type: "checkbox", "aria-label": "overlay " + r.path, onclick: (ev) => {
      ev.stopPropagation();
      if (ev.target.checked) state.overlay.add(r.id); else state.overlay.delete(r.id);
      refreshMetrics().then(drawCharts);
      state.listed = "";
      refreshRuns().catch((e) => say(e.message, true));
    } });
    box.checked = state.overlay.has(r.id);
    const name = el("td", {}, shown ? el("span", { class: "swatch", style: `background:${colorOf(r.id)}` }) : "", r.path);
    const row = el("tr", { data: { id: r.id }, class: r.id === state.open ? "open" : "", onclick: () => openRun(r.id) },
      el("td", {}, box), name,
      el("td", {}, r.corpus ?? "–"), el("td", {}, r.preset ?? "–"), el("td", { class: "num" }, r.dim ?? "–"),
      el("td", { class: "num" }, r.iterations), el("td", { class: "num" }, fmt.time(r.elapsed_secs)),
      el("td", { class: "num" }, fmt.n(r.best_js4)), el("td", { class: "num" }, fmt.pct(r.best_words)),
      el("td", {}, el("span", { class: "state " + r.state, title: r.problem ?? "" }, r.state)));
    body.append(row);
  }
  $("no-runs").hidden = listing.runs.length > 0;
  const reports = $("reports");
  reports.replaceChildren(...listing.reports.map((r) =>
    el("li", {}, el("a", { href: "#report=" + encodeURIComponent(r.id), data: { id: r.id } }, r.path))));
  $("reports-block").hidden = listing.reports.length === 0;
  $("report-count").textContent = listing.reports.length;
}

async function refreshRuns() {
  const listing = await api("runs");
  state.runs = listing.runs;
  // Redrawn only when something changed: a click is never lost to a rebuilt row.
  const seen = JSON.stringify([listing, state.open, [...state.overlay]]);
  if (seen !== state.listed) {
    state.listed = seen;
    renderRuns(listing);
  }
}

// ---------------------------------------------------------------- one run

async function openRun(id) {
  if (location.hash !== "#run=" + encodeURIComponent(id)) {
    history.replaceState(null, "", "#run=" + encodeURIComponent(id));
  }
  $("report-section").hidden = true;
  if (state.open !== id) {
    state.open = id;
    state.detail = null;
    $("gen-out").replaceChildren();
    $("walk-out").tBodies[0].replaceChildren();
    $("samples").replaceChildren();
    state.charted = "";
  }
  $("run-section").hidden = false;
  for (const tr of $("runs").tBodies[0].rows) tr.classList.toggle("open", tr.dataset.id === id);
  await refreshOpen(true);
  await refreshMetrics();
  drawCharts();
  updateCommands();
}

async function refreshOpen(first = false) {
  const id = state.open;
  if (!id) return;
  let detail;
  try {
    detail = await api("run", { id });
  } catch (e) {
    // Gone or unreadable: say so and keep the rest of the page working.
    $("run-problem").hidden = false;
    $("run-problem").textContent = e.message;
    return;
  }
  if (id !== state.open) return;
  const s = detail.summary;
  state.detail = detail;
  $("run-title").textContent = s.path;
  $("run-info").textContent = [
    `corpus ${s.corpus ?? "?"}`, `preset ${s.preset ?? "?"}`, `width ${s.dim ?? "?"} × ${s.res_blocks ?? "?"} blocks`,
    `lipschitz ${s.lipschitz ?? "?"}`, `seed ${s.seed ?? "?"}`, `${s.iterations} iterations in ${fmt.time(s.elapsed_secs)}`,
    `state ${s.state}`,
  ].join(" · ");
  // An empty truncation box reads at the run's own ψ: show it there.
  $("gen-psi").placeholder = String(detail.config?.truncation ?? 1);
  $("run-problem").hidden = !s.problem;
  $("run-problem").textContent = s.problem ?? "";
  const slider = $("slider");
  const atEnd = first || Number(slider.value) >= Number(slider.max);
  slider.max = Math.max(0, detail.samples.length - 1);
  if (atEnd) slider.value = slider.max;
  await showSamples();
}

async function showSamples() {
  const its = state.detail?.samples ?? [];
  const slider = $("slider");
  if (its.length === 0) {
    $("slider-label").textContent = "no samples yet";
    $("samples").replaceChildren();
    return;
  }
  const id = state.open;
  const it = its[Math.min(Number(slider.value), its.length - 1)];
  const rec = (state.metrics.get(id)?.records ?? []).find((r) => r.iteration === it);
  $("slider-label").textContent = `iteration ${it}` + (rec ? ` · ${fmt.time(rec.elapsed_secs)} · JSD-4 ${fmt.n(rec.js[3])} · words ${fmt.pct(rec.valid_word_rate)}` : "");
  const key = `${id}@${it}`;
  let lines = state.samples.get(key);
  if (!lines) {
    try {
      lines = (await api("samples", { id, iteration: it })).lines;
      state.samples.set(key, lines);
    } catch (e) {
      say(e.message, true);
      return;
    }
  }
  // Another run opened, or the slider moved, meanwhile: that request shows its own.
  const now = state.detail?.samples ?? [];
  if (state.open !== id || now[Math.min(Number(slider.value), now.length - 1)] !== it) return;
  $("samples").replaceChildren(...lines.map((l) => el("li", {}, l)));
  $("samples").dataset.iteration = it;
}

// ---------------------------------------------------------------- curves

async function refreshMetrics() {
  const ids = new Set(state.overlay);
  if (state.open) ids.add(state.open);
  let changed = false;
  for (const id of ids) {
    const have = state.metrics.get(id) ?? { total: 0, records: [] };
    let m;
    try {
      m = await api("metrics", { id, from: have.total });
    } catch (e) {
      continue; // shown in the table as missing or corrupt
    }
    if (m.total < have.total) {
      // The file was replaced (--force): start again.
      state.metrics.delete(id);
      changed = true;
      continue;
    }
    if (m.records.length > 0 || !state.metrics.has(id)) {
      state.metrics.set(id, { total: m.total, records: have.records.concat(m.records) });
      changed = true;
    }
  }
  return changed;
}

const PANELS = [
  { title: (n) => `JSD-${n} (n-gram Jensen–Shannon divergence, lower is better)`, value: (r, n) => r.js[n - 1], floor: (r, n) => r.floor_js[n - 1] },
  { title: () => "valid words (%)", value: (r) => (r.valid_word_rate == null ? null : 100 * r.valid_word_rate) },
  { title: () => "Wasserstein estimate (critic)", value: (r) => r.losses?.wasserstein ?? null },
  { title: () => "gradient penalty", value: (r) => r.losses?.penalty ?? null },
  { title: () => "losses: critic (solid), generator (dashed)", value: (r) => r.losses?.critic_loss ?? null, second: (r) => r.losses?.gen_loss ?? null },
];

function drawCharts() {
  const ids = [...new Set([state.open, ...state.overlay].filter(Boolean))].filter((id) => state.metrics.has(id));
  const xMode = $("x-axis").value;
  const n = Number($("jsd-n").value);
  const key = JSON.stringify([ids, ids.map((id) => state.metrics.get(id).total), xMode, n, $("charts").clientWidth]);
  if (key === state.charted) return;
  state.charted = key;
  const box = $("charts");
  box.replaceChildren();
  box.dataset.points = state.open && state.metrics.has(state.open) ? state.metrics.get(state.open).records.length : 0;
  const x = (r) => (xMode === "time" ? r.elapsed_secs / 60 : r.iteration);
  // Short names: the path below the folder served (its index too when several are).
  const roots = new Set(state.runs.map((r) => r.id.split("/")[0]));
  const name = (id) => (roots.size > 1 ? id : id.split("/").slice(1).join("/"));
  const width = Math.max(360, Math.floor((box.clientWidth - 12) / Math.max(1, Math.floor(box.clientWidth / 440))) - 8);
  for (const p of PANELS) {
    const tables = [];
    const series = [{ label: xMode === "time" ? "minutes" : "iteration" }];
    for (const id of ids) {
      const recs = state.metrics.get(id).records;
      const xs = recs.map(x);
      const color = colorOf(id);
      tables.push([xs, recs.map((r) => p.value(r, n))]);
      series.push({ label: name(id), stroke: color, width: 1.5, spanGaps: true, value: (u, v) => (v == null ? "–" : v.toFixed(3)) });
      if (p.floor) {
        tables.push([xs, recs.map((r) => p.floor(r, n))]);
        series.push({ label: name(id) + " floor", stroke: color, dash: [4, 4], width: 1, spanGaps: true, value: (u, v) => (v == null ? "–" : v.toFixed(3)) });
      }
      if (p.second) {
        tables.push([xs, recs.map(p.second)]);
        series.push({ label: name(id) + " generator", stroke: color, dash: [6, 3], width: 1.2, spanGaps: true, value: (u, v) => (v == null ? "–" : v.toFixed(3)) });
      }
    }
    const wrap = el("div", { class: "chart" }, el("h4", {}, p.title(n)));
    box.append(wrap);
    if (tables.length === 0 || tables.every((t) => t[1].every((v) => v == null))) {
      wrap.append(el("p", { class: "muted" }, tables.length ? "not recorded by this run (older runs lack the losses)" : "no evaluations yet"));
      continue;
    }
    const data = uPlot.join(tables);
    new uPlot({
      width, height: 220, series,
      scales: { x: { time: false } },
      axes: [{ label: xMode === "time" ? "training minutes" : "iteration" }, {}],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    }, data, wrap);
  }
}

// ---------------------------------------------------------------- generate and walk

// A path as a shell word.
const shellWord = (s) => (/^[\w./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

function commandModel() {
  return state.detail ? `--model ${shellWord(state.detail.summary.path)}` : "";
}

// The truncation asked for, or undefined for the run's own (an empty box).
const psi = () => ($("gen-psi").value.trim() === "" ? undefined : $("gen-psi").value.trim());

function updateCommands() {
  const t = Number($("gen-temp").value);
  const ck = $("gen-ckpt").value;
  // Shared by both commands: a walk's ends are the samples generate prints at the same ψ.
  const p = psi();
  const shared = (p !== undefined ? ` --truncation ${p}` : "") + (ck !== "best" ? ` --checkpoint ${ck}` : "");
  $("gen-cmd").textContent = `textgan generate ${commandModel()} -n ${$("gen-n").value} --seed ${$("gen-seed").value}` +
    (t > 0 ? ` --temperature ${t}` : "") + shared;
  $("walk-cmd").textContent = `textgan interpolate ${commandModel()} --from ${$("walk-from").value} --to ${$("walk-to").value} --steps ${$("walk-steps").value} --path ${$("walk-path").value}` +
    shared;
}

async function busy(button, label, work) {
  button.disabled = true;
  say(label);
  try {
    await work();
    say("");
  } catch (e) {
    say(e.message, true);
  } finally {
    button.disabled = false;
  }
}

function generate() {
  const id = state.open;
  const seed = $("gen-seed").value;
  const temperature = Number($("gen-temp").value);
  return busy($("gen-go"), "generating…", async () => {
    const res = await api("generate", {
      id, n: $("gen-n").value, seed, temperature: $("gen-temp").value, truncation: psi(), checkpoint: $("gen-ckpt").value,
    });
    if (state.open !== id) return;
    // A walk reads its points by argmax: its ends are these samples only at temperature 0.
    const pick = (i) => (temperature > 0 ? [] : [
      el("button", { title: "walk from this sample", onclick: () => { $("walk-from").value = `${seed}:${i}`; updateCommands(); } }, "⇤"),
      el("button", { title: "walk to this sample", onclick: () => { $("walk-to").value = `${seed}:${i}`; updateCommands(); } }, "⇥"),
    ]);
    $("gen-out").replaceChildren(...res.lines.map((line, i) => el("li", {}, ...pick(i), el("span", { class: "text" }, line))));
  });
}

function walk() {
  const id = state.open;
  return busy($("walk-go"), "walking…", async () => {
    const res = await api("interpolate", {
      id, from: $("walk-from").value, to: $("walk-to").value, steps: $("walk-steps").value,
      path: $("walk-path").value, truncation: psi(), checkpoint: $("gen-ckpt").value,
    });
    if (state.open !== id) return;
    $("walk-out").tBodies[0].replaceChildren(...res.points.map((p) =>
      el("tr", {}, el("td", { class: "t" }, p.t.toFixed(3)), el("td", { class: "text" }, p.text))));
  });
}

// ---------------------------------------------------------------- reports

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// Enough Markdown for textgan's own reports: headings, tables, code blocks, images, lists,
// paragraphs, `code`, **bold**. Everything is escaped first.
function markdown(text, chartUrl) {
  const inline = (s) => escapeHtml(s)
    .replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (m, alt, src) => `<img alt="${alt}" src="${chartUrl(src)}">`)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
  const out = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code = [];
      while (++i < lines.length && !lines[i].startsWith("```")) code.push(lines[i]);
      out.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
    } else if (/^#{1,6} /.test(line)) {
      // One level down: the page's own title is the h1.
      const hashes = line.indexOf(" ");
      const level = Math.min(6, hashes + 1);
      out.push(`<h${level}>${inline(line.slice(hashes + 1))}</h${level}>`);
    } else if (line.startsWith("|")) {
      const rows = [];
      for (; i < lines.length && lines[i].startsWith("|"); i++) rows.push(lines[i]);
      i--;
      const cells = (r) => r.replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
      const body = rows.filter((r) => !/^\|[\s:|-]+\|$/.test(r));
      out.push("<table>" + body.map((r, j) => "<tr>" + cells(r).map((c) => (j === 0 ? `<th>${inline(c)}</th>` : `<td>${inline(c)}</td>`)).join("") + "</tr>").join("") + "</table>");
    } else if (/^[-*] /.test(line)) {
      const items = [];
      for (; i < lines.length && /^[-*] /.test(lines[i]); i++) items.push(`<li>${inline(lines[i].slice(2))}</li>`);
      i--;
      out.push(`<ul>${items.join("")}</ul>`);
    } else if (line.trim()) {
      out.push(`<p>${inline(line)}</p>`);
    }
  }
  return out.join("\n");
}

async function openReport(id) {
  state.open = null;
  $("run-section").hidden = true;
  for (const tr of $("runs").tBodies[0].rows) tr.classList.remove("open");
  try {
    const r = await api("report", { id });
    $("report-title").textContent = `${r.kind} report: ${r.path}`;
    const chartUrl = (name) => `/api/report/chart?${new URLSearchParams({ id, name })}`;
    // Charts the text does not show are added at the end.
    const shown = new Set([...r.markdown.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]));
    const extra = r.charts.filter((c) => !shown.has(c)).map((c) => `![${c}](${c})`).join("\n");
    $("report-body").innerHTML = markdown(r.markdown + "\n" + extra, chartUrl);
    $("report-section").hidden = false;
  } catch (e) {
    say(e.message, true);
  }
}

// ---------------------------------------------------------------- start

function route() {
  let h;
  try {
    h = decodeURIComponent(location.hash.slice(1));
  } catch {
    return; // a hash that is not ours
  }
  if (h.startsWith("run=")) openRun(h.slice(4));
  else if (h.startsWith("report=")) openReport(h.slice(7));
}

async function poll() {
  try {
    await refreshRuns();
    if (state.open) {
      await refreshOpen();
      if (await refreshMetrics()) drawCharts();
    }
    if (state.pollError) {
      state.pollError = false;
      say("");
    }
  } catch (e) {
    state.pollError = true;
    say("cannot reach textgan serve: " + e.message, true);
  }
  setTimeout(poll, POLL_MS);
}

window.addEventListener("DOMContentLoaded", async () => {
  $("slider").addEventListener("input", showSamples);
  $("x-axis").addEventListener("change", drawCharts);
  $("jsd-n").addEventListener("change", drawCharts);
  $("gen-go").addEventListener("click", generate);
  $("walk-go").addEventListener("click", walk);
  for (const id of ["gen-n", "gen-seed", "gen-temp", "gen-psi", "gen-ckpt", "walk-from", "walk-to", "walk-steps", "walk-path"]) {
    $(id).addEventListener("input", updateCommands);
  }
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => drawCharts());
  try {
    await refreshRuns();
    route();
  } catch (e) {
    say(e.message, true);
  }
  setTimeout(poll, POLL_MS);
  document.body.dataset.ready = "1";
});
