// initlab playground: draws what the server computes. No numerics here: every number on the
// page comes from initlab's engine through /api/*; this file only keeps the view's state in
// the URL, asks, and draws (uPlot for charts, a canvas for grids of colours).
"use strict";

const COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#c79a00", "#a6761d",
                "#555555", "#1f78b4", "#b15928"];
const VIEWS = ["explorer", "training", "theory"];
const PG = window.playground = { meta: null, view: "explorer", values: {}, charts: {},
                                 last: { explore: null, train: [], phase: null, point: null } };
const $ = (sel, root = document) => root.querySelector(sel);
const form = $("#controls");
const esc = text => String(text).replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`);

// ---------------------------------------------------------------- state, URL, errors

function showError(message) {
  const box = $("#error");
  box.textContent = message || "";
  box.hidden = !message;
}

function query(view = PG.view) {
  const q = new URLSearchParams({ view });
  for (const key of Object.keys(PG.meta.views[view])) q.set(key, PG.values[view][key]);
  return q;
}

function readForm() {
  const v = PG.values[PG.view];
  for (const key of Object.keys(v)) {
    const el = form.elements[key];
    if (!el) continue;
    v[key] = key === "inits" ? el.value.split(/[\n;]+/).map(s => s.trim()).filter(Boolean).join(";")
                             : el.value.trim();
  }
  for (const key of ["inits", "activation"]) {  // shared by the views
    for (const other of VIEWS) if (key in PG.values[other]) PG.values[other][key] = v[key];
  }
  history.replaceState(null, "", "?" + query().toString());
}

function writeForm() {
  const v = PG.values[PG.view];
  for (const [key, value] of Object.entries(v)) {
    const el = form.elements[key];
    if (el) el.value = key === "inits" ? value.split(";").join("\n") : value;
  }
  for (const el of form.querySelectorAll("[data-for]")) {
    el.hidden = !el.dataset.for.split(" ").includes(PG.view);
  }
  const input = v.input || "";
  const generated = input === "gaussian" || PG.meta.inputs.includes(input) && !["digits", "cats-vs-dogs"].includes(input);
  for (const el of form.querySelectorAll("[data-input]")) {
    el.hidden = el.dataset.input === "toy" ? !(generated && input !== "gaussian") : !generated;
  }
  const inputs = PG.view === "training" ? PG.meta.inputs.filter(x => x !== "gaussian") : PG.meta.inputs;
  fillSelect(form.elements.input, inputs, v.input);
}

function fillSelect(select, names, value) {
  select.replaceChildren(...names.map(n => new Option(n, n)));
  if (value !== undefined) select.value = value;
}

async function getJSON(path, signal) {
  const response = await fetch(path, { signal });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// ---------------------------------------------------------------- charts

function plot(el, opts, data) {
  const width = Math.max(200, el.clientWidth - 8);
  const chart = new uPlot({ width, height: 200, legend: { show: true }, ...opts }, data, el);
  return chart;
}

function bars(color) {
  return { stroke: color, fill: color + "99", width: 1,
           paths: uPlot.paths.bars({ size: [1, Infinity], gap: 0 }), points: { show: false } };
}

function histogram(el, h, color, title) {
  if (!h) { el.textContent = "no values (diverged)"; return null; }
  const centers = h.counts.map((_, i) => (h.edges[i] + h.edges[i + 1]) / 2);
  const total = h.counts.reduce((a, b) => a + b, 0) || 1;
  const share = h.counts.map(c => c / total);
  return new uPlot({
    width: Math.max(120, el.clientWidth), height: 82, legend: { show: false }, cursor: { show: false },
    scales: { x: { time: false, range: [h.edges[0], h.edges[h.edges.length - 1]] }, y: { range: [0, null] } },
    padding: [4, 16, 0, 16],
    axes: [{ size: 22, font: "10px system-ui", ticks: { size: 3 }, gap: 2,
             splits: u => [u.scales.x.min, ...(u.scales.x.min < 0 && u.scales.x.max > 0 ? [0] : []), u.scales.x.max],
             values: (u, v) => v.map(short) }, { show: false }],
    series: [{}, { label: title, ...bars(color) }],
  }, [centers, share], el);
}

// ---------------------------------------------------------------- explorer

let exploreAbort = null;

async function explore() {
  if (exploreAbort) exploreAbort.abort();
  const abort = exploreAbort = new AbortController();
  $("#explore-status").textContent = "computing…";
  const t0 = performance.now();
  try {
    const r = await getJSON("/api/explore?" + query("explorer"), abort.signal);
    PG.last.explore = r;
    drawExplorer(r, performance.now() - t0);
    showError("");
  } catch (e) {
    if (e.name !== "AbortError") { showError(e.message); $("#explore-status").textContent = ""; }
  }
}

function fmt(x, digits = 3) {
  if (x === null || x === undefined) return "–";
  if (x === "inf") return "∞";
  if (typeof x !== "number") return String(x);
  if (x !== 0 && (Math.abs(x) >= 1e4 || Math.abs(x) < 1e-3)) return x.toExponential(2);
  return x.toPrecision(digits).replace(/\.?0+$/, "");
}

// a tick label in at most ~5 characters: 0.37, -20, 1e4, -3.5e4
function short(x) {
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(1).replace("e+", "e").replace(".0e", "e")
                              : String(+x.toPrecision(2));
}

// a log axis's label at each power of ten only: 1e-4 ... 0.01, 0.1, 1, 10, 100 ... 1e4
function decade(x) {
  if (x == null || !x.toExponential().startsWith("1")) return "";
  const e = Math.round(Math.log10(x));
  return Math.abs(e) >= 3 ? `1e${e}` : String(+(10 ** e).toPrecision(1));
}

const pct = x => (x === null || x === undefined) ? "–" : (100 * x).toFixed(x > 0 && x < 0.01 ? 2 : 0) + "%";

function drawExplorer(r, ms) {
  const act = PG.values.explorer.activation;
  const rule = act === "relu" || act === "leaky_relu" ? "dead (A = 0)" : "saturated";
  $("#explore-status").textContent =
    `${r.data.name}: ${r.data.n_examples} examples, layers ${r.layer_sizes.join("-")} · ` +
    `computed by initlab in ${Math.round(r.seconds * 1000)} ms (page updated in ${Math.round(ms)} ms)`;
  const grid = $("#explore-grid");
  grid.replaceChildren();
  PG.charts.variance = []; PG.charts.hist = [];
  r.runs.forEach((run, k) => {
    const color = COLORS[k % COLORS.length];
    const card = document.createElement("div");
    card.className = "card"; card.dataset.init = run.name;
    card.innerHTML = `<h3><i style="background:${color}"></i>${esc(run.name)}</h3>
      <p class="note">cost at initialization ${fmt(run.cost, 4)}</p>
      <h4>Var(Z<sub>l</sub>) by layer: <span style="color:${color}">●</span> measured,
        <span style="letter-spacing:-1px">- -</span> theory</h4><div class="var"></div>
      <table class="results small"></table>
      <div class="hists"><h4>activations A<sub>l</sub></h4><h4>gradients dZ<sub>l</sub></h4></div>`;
    grid.append(card);
    const L = run.var_z.length, layers = [...Array(L).keys()].map(l => l + 1);
    const q = run.theory.available ? run.theory.q : layers.map(() => null);
    const pos = a => a.map(x => (x && x > 0 ? x : null));
    if (run.var_z.every(x => x === 0)) $(".var", card).textContent = "every Z_l is exactly 0";
    else PG.charts.variance.push(plot($(".var", card), {
      height: 150, legend: { show: false },
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: "layer", size: 30, labelSize: 16 }, { size: 44, values: (u, v) => v.map(decade) }],
      series: [{ label: "layer" },
               { label: "measured", stroke: color, width: 0, points: { show: true, size: 7, fill: color } },
               { label: "mean-field", stroke: "#222", dash: [5, 4], width: 1.5, points: { show: false } }],
    }, [layers, pos(run.var_z), pos(q)]));
    const head = `<tr><th>layer</th><th>Var(Z)</th><th>theory q</th><th>${rule}</th></tr>`;
    $("table", card).innerHTML = head + layers.map((l, i) =>
      `<tr><td>${l === L ? "out" : l}</td><td>${fmt(run.var_z[i])}</td><td>${fmt(q[i])}</td>` +
      `<td>${pct(run.saturated[i])}</td></tr>`).join("");
    if (!run.theory.available) {
      $(".note", card).textContent += ` · no prediction: ${run.theory.reason}`;
    }
    const hists = $(".hists", card);
    for (let l = 0; l < L; l++) {
      const name = l === L - 1 ? "out" : String(l + 1);
      const cells = ["A", "dZ"].map(kind => {
        const label = document.createElement("div");
        label.className = "hist-label";
        const sat = kind === "A" && run.saturated[l] > 0.05
          ? ` <span class="warn">${pct(run.saturated[l])} ${rule}</span>` : "";
        label.innerHTML = `<b>${kind}<sub>${name}</sub></b>${sat}`;
        hists.append(label);
        return kind;
      }).map(kind => {
        const cell = document.createElement("div");
        cell.dataset.layer = name; cell.dataset.kind = kind;
        hists.append(cell);
        return [cell, kind];
      });
      for (const [cell, kind] of cells) {
        PG.charts.hist.push(histogram(cell, run.histograms[kind][l], kind === "A" ? color : "#555555", kind));
      }
    }
  });
}

// ---------------------------------------------------------------- training

let trainAbort = null;

function setTraining(running) {
  $("#train-start").disabled = running;
  $("#train-stop").disabled = !running;
}

function stopTraining(reason) {
  if (trainAbort) {
    trainAbort.abort();
    trainAbort = null;
    const at = training.x.length ? ` at step ${training.x.at(-1) + 1}` : "";
    $("#train-status").textContent = `cancelled${at}: ${reason}`;
    PG.last.train.push({ type: "cancelled", reason });
  }
  setTraining(false);
}

async function startTraining() {
  stopTraining("a new training started");
  const abort = trainAbort = new AbortController();
  PG.last.train = [];
  setTraining(true);
  $("#train-status").textContent = "checking the settings…";
  $("#train-table").replaceChildren();
  $("#train-boundaries").replaceChildren();
  try {
    const response = await fetch("/api/train?" + query("training"), { signal: abort.signal });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error || `HTTP ${response.status}`);
    }
    showError("");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const data = block.split("\n").find(line => line.startsWith("data: "));
        if (data) onTrainEvent(JSON.parse(data.slice(6)));
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") { showError(e.message); $("#train-status").textContent = ""; }
  } finally {
    if (trainAbort === abort) { trainAbort = null; setTraining(false); }
  }
}

const training = { start: null, x: [], ys: [] };

function onTrainEvent(ev) {
  PG.last.train.push(ev);
  if (ev.type === "start") {
    training.start = ev; training.x = []; training.ys = ev.members.map(() => []);
    drawCurves(ev);
    $("#train-status").textContent = `training ${ev.members.length} networks as one population ` +
      `(${ev.data}; engine ${ev.engine}) · step 0 of ${ev.steps}`;
  } else if (ev.type === "costs") {
    ev.iterations.forEach((it, j) => {
      training.x.push(it);
      ev.costs[j].forEach((c, k) => training.ys[k].push(c !== null && c > 0 ? c : null));
    });
    PG.charts.curves.setData([training.x, ...training.ys]);
    $("#train-status").textContent = $("#train-status").textContent.replace(/step \d+/, `step ${ev.iterations.at(-1) + 1}`);
  } else if (ev.type === "done") {
    training.x = ev.iterations;
    training.ys = ev.members.map(m => m.cost.map(c => (c !== null && c > 0 ? c : null)));
    PG.charts.curves.setData([training.x, ...training.ys]);
    $("#train-status").textContent = `done: ${training.start.steps} steps in ${ev.seconds.toFixed(2)} s`;
    drawResults(ev);
  } else if (ev.type === "cancelled") {
    $("#train-status").textContent = "cancelled";
  } else if (ev.type === "error") {
    showError(ev.error);
  }
}

function initColor(name) {
  const names = [...new Set(training.start.members.map(m => m.name))];
  return COLORS[names.indexOf(name) % COLORS.length];
}

function drawCurves(start) {
  const el = $("#train-curves");
  el.replaceChildren();
  const seen = new Set();
  const series = [{ label: "iteration" }, ...start.members.map(m => {
    const first = !seen.has(m.name); seen.add(m.name);
    const tag = start.mode === "replicas" ? `replica ${m.replicate}` : `seed ${m.seed}`;
    return { label: `${m.name} (${tag})`, stroke: initColor(m.name) + (first ? "" : "66"),
             width: first ? 2 : 1, points: { show: false }, show: true };
  })];
  PG.charts.curves = plot(el, {
    height: 320, title: "training cost (log scale)",
    scales: { x: { time: false, range: [0, start.steps] }, y: { distr: 3 } },
    axes: [{ label: "iteration" }, { label: "cost", size: 60 }],
    series,
  }, [[], ...start.members.map(() => [])]);
}

function interval(s, f) {
  if (s.mean === null) return "–";
  const span = s.low === null ? "" : ` [${f(s.low)}, ${f(s.high)}]`;
  return f(s.mean) + span;
}

function drawResults(ev) {
  const mode = training.start.mode === "replicas" ? "replicas" : "seeds";
  const acc = x => (100 * x).toFixed(1) + "%";
  const head = `<tr><th>initialization</th><th>${mode}</th><th>final cost</th><th>train accuracy</th><th>diverged</th></tr>`;
  $("#train-table").innerHTML = head + ev.summary.map(s =>
    `<tr><td><i style="color:${initColor(s.name)}">■</i> ${esc(s.name)}</td><td>${s.n}</td>` +
    `<td>${interval(s.final_cost, x => x.toFixed(4))}</td><td>${interval(s.train_accuracy, acc)}</td>` +
    `<td>${s.diverged}</td></tr>`).join("") +
    (ev.summary[0].n > 1 ? `<caption>mean [95% interval of the mean] over ${mode}</caption>` : "");
  const b = ev.boundaries, pts = training.start.points;
  if (!b || !pts) return;
  for (const [j, k] of b.members.entries()) {
    const card = document.createElement("div");
    card.className = "card";
    const m = ev.members[k];
    card.innerHTML = `<h3><i style="background:${initColor(m.name)}"></i>${esc(m.name)}</h3>
      <p class="note">decision boundary · accuracy ${m.train_accuracy === null ? "–" : acc(m.train_accuracy)}</p>`;
    const canvas = document.createElement("canvas");
    canvas.className = "boundary"; canvas.width = canvas.height = 300;
    card.append(canvas);
    $("#train-boundaries").append(card);
    drawBoundary(canvas, b, b.p[j], pts);
  }
}

function drawBoundary(canvas, b, p, pts) {
  const ctx = canvas.getContext("2d"), W = canvas.width, n = b.n, cell = W / n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = p[i * n + j];  // row i = y, column j = x; y grows upwards
      ctx.fillStyle = v === null ? "#ccc" : `rgb(${Math.round(90 + 160 * v)}, ${Math.round(150 + 60 * (1 - Math.abs(2 * v - 1)))}, ${Math.round(250 - 160 * v)})`;
      ctx.fillRect(j * cell, W - (i + 1) * cell, cell + 1, cell + 1);
    }
  }
  const sx = x => (x - b.x[0]) / (b.x[1] - b.x[0]) * W, sy = y => W - (y - b.y[0]) / (b.y[1] - b.y[0]) * W;
  pts.x.forEach((x, i) => {
    ctx.beginPath(); ctx.arc(sx(x), sy(pts.y[i]), 3, 0, 2 * Math.PI);
    ctx.fillStyle = pts.label[i] ? "#b2182b" : "#2166ac"; ctx.fill();
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 0.8; ctx.stroke();
  });
}

// ---------------------------------------------------------------- theory

async function theory(redrawPhase) {
  try {
    if (redrawPhase || !PG.last.phase || PG.last.phase.activation !== PG.values.theory.activation) {
      $("#phase-status").textContent = "computing the phase diagram…";
      PG.last.phase = await getJSON("/api/phase?" + query("theory"));
    }
    drawPhase(PG.last.phase);
    PG.last.point = await getJSON("/api/point?" + query("theory"));
    drawPoint(PG.last.point);
    showError("");
  } catch (e) { showError(e.message); }
}

const PAD = { l: 52, r: 12, t: 12, b: 40 };

function drawPhase(ph) {
  const canvas = $("#phase"), ctx = canvas.getContext("2d");
  const W = canvas.width - PAD.l - PAD.r, H = canvas.height - PAD.t - PAD.b;
  const nw = ph.sigma_w2.length, nb = ph.sigma_b2.length;
  const wmax = ph.sigma_w2[nw - 1], bmax = ph.sigma_b2[nb - 1];
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (let j = 0; j < nb; j++) {
    for (let i = 0; i < nw; i++) {
      const v = ph.ln_chi[j][i];
      const t = v === null ? 0 : Math.tanh(v / 0.4);  // colour only: blue ordered, red chaotic
      const c = t < 0 ? [255 + t * 200, 255 + t * 120, 255] : [255, 255 - t * 190, 255 - t * 200];
      ctx.fillStyle = `rgb(${c.map(Math.round).join(",")})`;
      ctx.fillRect(PAD.l + i * W / nw, PAD.t + H - (j + 1) * H / nb, W / nw + 1, H / nb + 1);
    }
  }
  const X = w => PAD.l + (w / wmax) * W, Y = b => PAD.t + H - (b / bmax) * H;
  ctx.strokeStyle = "#111"; ctx.lineWidth = 2; ctx.beginPath();
  let pen = false;
  for (const [w, b] of ph.critical) {
    if (w === null || w > wmax) { pen = false; continue; }
    pen ? ctx.lineTo(X(w), Y(b)) : ctx.moveTo(X(w), Y(b)); pen = true;
  }
  ctx.stroke();
  ctx.fillStyle = "#222"; ctx.font = "12px system-ui"; ctx.textAlign = "center";
  for (let k = 0; k <= 4; k++) {
    const w = wmax * k / 4, b = bmax * k / 4;
    ctx.fillText(fmt(w, 2), X(w), PAD.t + H + 15);
    ctx.textAlign = "right"; ctx.fillText(fmt(b, 2), PAD.l - 5, Y(b) + 4); ctx.textAlign = "center";
  }
  ctx.fillText("σw² (weight variance × fan-in)", PAD.l + W / 2, PAD.t + H + 33);
  ctx.save(); ctx.translate(13, PAD.t + H / 2); ctx.rotate(-Math.PI / 2); ctx.fillText("σb² (bias variance)", 0, 0); ctx.restore();
  ctx.fillText("ordered", PAD.l + W * 0.12, PAD.t + 18);
  ctx.fillText("chaotic", PAD.l + W * 0.9, PAD.t + 18);
  const v = PG.values.theory, pw = Number(v.sw2), pb = Number(v.sb2);
  ctx.beginPath(); ctx.arc(X(pw), Y(pb), 6, 0, 2 * Math.PI);
  ctx.strokeStyle = "#000"; ctx.lineWidth = 2.5; ctx.stroke();
  ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.stroke();
  canvas.dataset.wmax = wmax; canvas.dataset.bmax = bmax;
  $("#phase-status").textContent = `${ph.activation}: ln χ1 on ${nw} × ${nb} points`;
}

function phaseClick(event) {
  const canvas = $("#phase"), rect = canvas.getBoundingClientRect();
  const x = (event.clientX - rect.left) * canvas.width / rect.width;
  const y = (event.clientY - rect.top) * canvas.height / rect.height;
  const W = canvas.width - PAD.l - PAD.r, H = canvas.height - PAD.t - PAD.b;
  const w = (x - PAD.l) / W * Number(canvas.dataset.wmax), b = (PAD.t + H - y) / H * Number(canvas.dataset.bmax);
  if (w <= 0 || b < 0 || w > Number(canvas.dataset.wmax) || b > Number(canvas.dataset.bmax)) return;
  PG.values.theory.sw2 = w.toPrecision(3); PG.values.theory.sb2 = b.toPrecision(3);
  writeForm(); history.replaceState(null, "", "?" + query().toString());
  theory(false);
}

function drawPoint(p) {
  const el = $("#point-chart");
  el.replaceChildren();
  PG.charts.correlation = plot(el, {
    width: 380, height: 300, title: "correlation map: next layer's c = C(c)",
    scales: { x: { time: false, range: [-1, 1] }, y: { range: [-1, 1] } },
    axes: [{ label: "correlation c of two inputs at layer l" }, { label: "at layer l + 1", size: 50 }],
    series: [{ label: "c_l" }, { label: "C(c)", stroke: "#2456a6", width: 2, points: { show: false } },
             { label: "identity", stroke: "#999", dash: [4, 4], points: { show: false } }],
  }, [p.c, p.c_out, p.c]);
  const rows = [["σw², σb²", `${fmt(p.sigma_w2)}, ${fmt(p.sigma_b2)}`], ["phase", p.phase],
    ["q* (fixed variance)", fmt(p.q_star)], ["χ1 (gradient growth per layer)", fmt(p.chi_1)],
    ["c* (fixed correlation)", fmt(p.c_star, 4)], ["χc = C'(c*)", fmt(p.chi_c)],
    ["ξc (correlation depth scale, layers)", fmt(p.xi_c)], ["ξq (variance depth scale)", fmt(p.xi_q)],
    ["critical σw² at this σb²", fmt(p.critical_sigma_w2)],
    ["distance σw² − critical", fmt(p.distance)]];
  $("#point-table").innerHTML = rows.map(([k, v]) => `<tr><td>${k}</td><td>${esc(v)}</td></tr>`).join("");
}

// ---------------------------------------------------------------- copy as spec

async function copySpec() {
  try {
    const response = await fetch("/api/spec?" + query());
    const text = await response.text();
    if (!response.ok) throw new Error(JSON.parse(text).error);
    $("#spec-text").value = text;
    const link = $("#spec-data"), match = text.match(/save (\S+) as (\S+) beside/);
    link.hidden = !match;
    if (match) { link.href = match[1]; link.download = match[2]; link.textContent = `download ${match[2]}`; }
    $("#spec-dialog").showModal();
    showError("");
  } catch (e) { showError(e.message); }
}

// ---------------------------------------------------------------- wiring

function refresh() {
  if (PG.view === "explorer") explore();
  else if (PG.view === "theory") theory(false);
}

function switchView(view) {
  if (view !== "training") stopTraining("left the training view");
  PG.view = view;
  for (const b of document.querySelectorAll("#tabs button")) b.setAttribute("aria-selected", b.dataset.view === view);
  for (const v of VIEWS) $("#view-" + v).hidden = v !== view;
  writeForm();
  history.replaceState(null, "", "?" + query().toString());
  refresh();
}

let timer = null;
function changed() {
  readForm();
  if (PG.view === "training") stopTraining("the settings changed; press Train");
  writeForm();
  clearTimeout(timer);
  timer = setTimeout(refresh, 120);
}

async function main() {
  PG.meta = await getJSON("/api/meta");
  for (const v of VIEWS) PG.values[v] = { ...PG.meta.views[v] };
  const params = new URLSearchParams(location.search);
  const view = VIEWS.includes(params.get("view")) ? params.get("view") : "explorer";
  for (const [k, v] of params) if (k in PG.values[view]) PG.values[view][k] = v;
  for (const key of ["inits", "activation"]) for (const other of VIEWS) {
    if (key in PG.values[other] && key in PG.values[view]) PG.values[other][key] = PG.values[view][key];
  }
  fillSelect(form.elements.activation, PG.meta.activations);
  for (const s of PG.meta.inits) $("#f-add").append(new Option(`${s.name} — ${s.formula}`, s.name));
  form.addEventListener("change", e => { if (e.target.id !== "f-add") changed(); });
  $("#f-add").addEventListener("change", e => {
    if (!e.target.value) return;
    form.elements.inits.value += "\n" + e.target.value; e.target.value = ""; changed();
  });
  $("#f-post").addEventListener("click", () => { form.elements.inits.value = PG.meta.post_inits.split(";").join("\n"); changed(); });
  $("#f-post-run").addEventListener("click", () => {  // the post's images once fetched, else digits
    const input = PG.meta.inputs.includes("cats-vs-dogs") ? "cats-vs-dogs" : "digits";
    Object.assign(PG.values.training, { inits: PG.meta.post_inits, activation: "tanh", depth: "2",
      width: "5", input, lr: "0.01", iterations: "1000", seed: "1", stream: "legacy", seeds: "1",
      mode: "seeds" });
    writeForm(); changed();
  });
  $("#train-start").addEventListener("click", startTraining);
  $("#train-stop").addEventListener("click", () => stopTraining("stopped"));
  $("#phase").addEventListener("click", phaseClick);
  $("#copy-spec").addEventListener("click", copySpec);
  $("#spec-close").addEventListener("click", () => $("#spec-dialog").close());
  $("#spec-copy").addEventListener("click", () => navigator.clipboard.writeText($("#spec-text").value).catch(() => {
    $("#spec-text").select(); document.execCommand("copy"); }));
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => switchView(b.dataset.view));
  switchView(view);
}

main().catch(e => showError(e.message));
