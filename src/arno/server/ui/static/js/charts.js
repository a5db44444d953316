/* Charts with Plotly: a task's scalars and plots, compare overlays, parallel coordinates. */
"use strict";
(() => {
  const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d", "toggleSpikelines"] };
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const DASHES = ["solid", "dot", "dash", "longdash", "dashdot", "longdashdot"];
  const MACHINE = ":monitor:";
  const COMPARE_POINTS = 600;  // per series: several tasks share a chart
  const ctl = {
    xaxis: document.getElementById("xaxis"),
    smooth: document.getElementById("smooth"),
    smoothval: document.getElementById("smoothval"),
    logy: document.getElementById("logy"),
    filter: document.getElementById("metricfilter"),
  };

  const yval = (v) => { const x = Arno.num(v); return Number.isFinite(x) ? x : null; };

  // exponential moving average, debiased at the start (as TensorBoard draws it)
  function smooth(ys, w) {
    if (!w) return ys;
    let last = 0, n = 0;
    return ys.map((y) => {
      if (y === null) return null;
      last = last * w + (1 - w) * y; n += 1;
      return last / (1 - Math.pow(w, n));
    });
  }

  function xOf(series, mode, t0) {
    if (mode === "wall") return series.timestamps.map((t) => new Date(t * 1000));
    if (mode === "rel") return series.timestamps.map((t) => (t - t0) / relUnit(series, t0).div);
    return series.x;
  }
  let relScale = { div: 1, label: "seconds" };
  function relUnit() { return relScale; }
  function setRelScale(all) {
    let lo = Infinity, hi = -Infinity;
    for (const s of all) if (s.timestamps && s.timestamps.length) { lo = Math.min(lo, s.timestamps[0]); hi = Math.max(hi, s.timestamps[s.timestamps.length - 1]); }
    const span = hi - lo;
    relScale = span > 3 * 3600 ? { div: 3600, label: "hours" } : span > 180 ? { div: 60, label: "minutes" } : { div: 1, label: "seconds" };
  }
  const xTitle = (mode) => (mode === "wall" ? "time" : mode === "rel" ? "relative time (" + relScale.label + ")" : "iteration");

  function traces(group, mode, w) {
    // group: [{series, name, color, dash, t0}]
    const out = [];
    for (const g of group) {
      const x = xOf(g.series, mode, g.t0);
      const y = g.series.y.map(yval);
      const big = x.length > 5000;
      const type = big ? "scattergl" : "scatter";
      if (w > 0) {
        out.push({ x, y, name: g.name, legendgroup: g.name, showlegend: false, type, mode: "lines", hoverinfo: "skip", line: { color: g.color, width: 1, dash: g.dash }, opacity: 0.25 });
        out.push({ x, y: smooth(y, w), name: g.name, legendgroup: g.name, type, mode: "lines", line: { color: g.color, width: 1.6, dash: g.dash } });
      } else {
        out.push({ x, y, name: g.name, legendgroup: g.name, type, mode: x.length === 1 ? "markers" : "lines", line: { color: g.color, width: 1.5, dash: g.dash } });
      }
    }
    return out;
  }

  function layout(mode) {
    return {
      margin: { l: 52, r: 12, t: 8, b: 40 }, height: 300,
      xaxis: { title: { text: xTitle(mode), font: { size: 11 } }, automargin: true, zeroline: false },
      yaxis: { type: ctl.logy && ctl.logy.checked ? "log" : "linear", automargin: true, zeroline: false },
      legend: { orientation: "h", y: -0.22, font: { size: 11 } },
      showlegend: true, hovermode: "x unified", font: { size: 11 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    };
  }

  function chartBox(root, title, extra) {
    const plot = Arno.el("div", { class: "plot" });
    const box = Arno.el("div", { class: "chart", "data-metric": title },
      Arno.el("div", { class: "charthead" }, Arno.el("span", { class: "charttitle", text: title }), extra || null), plot);
    root.append(box);
    return plot;
  }

  function applyFilter(root) {
    if (!ctl.filter) return;
    const f = ctl.filter.value.trim().toLowerCase();
    for (const box of root.querySelectorAll(".chart")) box.style.display = !f || box.dataset.metric.toLowerCase().includes(f) ? "" : "none";
  }

  function byMetric(list) {
    const m = new Map();
    for (const item of list) {
      if (!m.has(item.series.metric)) m.set(item.series.metric, []);
      m.get(item.series.metric).push(item);
    }
    const names = [...m.keys()].sort((a, b) => (a.startsWith(MACHINE) - b.startsWith(MACHINE)) || a.localeCompare(b));
    return names.map((n) => [n, m.get(n)]);
  }

  // Draw (or redraw in place) one chart per metric.
  function renderGroups(root, groups, state, linkFor) {
    const mode = ctl.xaxis ? ctl.xaxis.value : "iter";
    const w = ctl.smooth ? Number(ctl.smooth.value) : 0;
    if (ctl.smoothval) ctl.smoothval.textContent = w.toFixed(2);
    const loading = root.querySelector("#chartsloading");
    if (loading) loading.remove();
    let machineHeader = root.querySelector(".chartgroup.machine");
    for (const [metric, items] of groups) {
      let plot = state.plots.get(metric);
      if (!plot) {
        if (metric.startsWith(MACHINE) && !machineHeader) {
          machineHeader = Arno.el("h3", { class: "chartgroup machine", text: "Machine stats" });
          root.append(machineHeader);
        }
        plot = chartBox(root, metric.startsWith(MACHINE) ? metric.slice(MACHINE.length) || metric : metric, linkFor ? linkFor(metric, items) : null);
        plot.parentElement.dataset.metric = metric;
        state.plots.set(metric, plot);
      }
      Plotly.react(plot, traces(items, mode, w), layout(mode), CONFIG);
    }
    applyFilter(root);
  }

  function hookControls(redraw, root) {
    for (const c of [ctl.xaxis, ctl.logy]) if (c) c.addEventListener("change", redraw);
    if (ctl.smooth) ctl.smooth.addEventListener("input", redraw);
    if (ctl.filter) ctl.filter.addEventListener("input", () => applyFilter(root));
  }

  // ---- a task's scalars ---------------------------------------------------------------------
  const scalars = document.getElementById("scalars");
  if (scalars) {
    const id = scalars.dataset.task;
    const full = scalars.dataset.full;
    const maxPoints = Number(scalars.dataset.maxpoints || 2000);
    const state = { plots: new Map(), data: [] };
    const url = () => `/api/v1/tasks/${id}/scalars?timestamps=true` + (full ? "&metric=" + encodeURIComponent(full) : "&max_points=" + maxPoints);
    const info = document.getElementById("chartinfo");
    const linkFor = (metric, items) => {
      if (full) return Arno.el("a", { href: `/tasks/${id}?tab=scalars`, class: "small", text: "← all charts" });
      if (!items.some((i) => i.series.sampled)) return null;
      const total = Math.max(...items.map((i) => i.series.total));
      return Arno.el("a", { href: `/tasks/${id}?tab=scalars&full=${encodeURIComponent(metric)}`, class: "small", title: `${total} points, drawn from about ${maxPoints}`, text: "full resolution" });
    };
    const draw = () => {
      const t0 = Math.min(...state.data.filter((s) => s.timestamps && s.timestamps.length).map((s) => s.timestamps[0]));
      setRelScale(state.data);
      const items = state.data.map((s, i) => ({ series: s, name: s.variant, color: null, dash: "solid", t0 }));
      // colours per variant, stable within a chart
      const groups = byMetric(items);
      for (const [, list] of groups) list.forEach((it, i) => { it.color = PALETTE[i % PALETTE.length]; });
      renderGroups(scalars, groups, state, linkFor);
      if (info) {
        const points = state.data.reduce((a, s) => a + s.total, 0);
        const sampled = state.data.some((s) => s.sampled);
        info.textContent = `${groups.length} chart${groups.length === 1 ? "" : "s"}, ${points.toLocaleString()} points` + (sampled ? `; long series drawn from ~${maxPoints} points each, minimum and maximum kept` : "");
      }
      if (!state.data.length) scalars.innerHTML = '<p class="muted">No scalars reported yet.</p>';
    };
    const load = async () => { state.data = await Arno.getJSON(url()); draw(); };
    load().catch((e) => { scalars.textContent = "Could not load scalars: " + e.message; });
    hookControls(draw, scalars);
    if (scalars.dataset.live === "1") {
      const timer = Arno.every(5000, async () => { await load(); if (!window.ArnoLive.running) clearInterval(timer); });
    }
  }

  // ---- a task's plots -------------------------------------------------------------------------
  const plots = document.getElementById("plots");
  if (plots) {
    Arno.getJSON(`/api/v1/tasks/${plots.dataset.task}/plots`).then((list) => {
      plots.innerHTML = "";
      if (!list.length) { plots.innerHTML = '<p class="muted">No plots reported.</p>'; return; }
      const latest = new Map();
      const counts = new Map();
      for (const p of list) {
        const key = p.metric + "\u0000" + p.variant;
        counts.set(key, (counts.get(key) || 0) + 1);
        const cur = latest.get(key);
        if (!cur || p.iteration > cur.iteration || (p.iteration === cur.iteration && p.id > cur.id)) latest.set(key, p);
      }
      for (const [key, p] of [...latest.entries()].sort()) {
        const n = counts.get(key);
        const div = chartBox(plots, `${p.metric} / ${p.variant}`, Arno.el("span", { class: "muted small", text: `iteration ${p.iteration}` + (n > 1 ? ` (latest of ${n})` : "") }));
        div.parentElement.classList.add("plotfig");
        const fig = p.figure || {};
        const lay = Object.assign({ margin: { l: 50, r: 16, t: 16, b: 44 }, height: 380, font: { size: 11 } }, fig.layout || {});
        if (lay.title) lay.margin = Object.assign({}, lay.margin, { t: 40 });
        lay.height = 380; delete lay.width; lay.autosize = true;
        Plotly.newPlot(div, fig.data || [], lay, CONFIG);
      }
    }).catch((e) => { plots.textContent = "Could not load plots: " + e.message; });
  }

  // ---- compare: overlaid scalars ----------------------------------------------------------
  const cmp = document.getElementById("comparecharts");
  if (cmp) {
    const tasks = JSON.parse(cmp.dataset.tasks);
    const state = { plots: new Map(), data: [] };
    const draw = () => {
      const all = state.data.flatMap((d) => d.series);
      setRelScale(all);
      const items = [];
      for (const d of state.data) {
        const t0 = Math.min(...d.series.filter((s) => s.timestamps && s.timestamps.length).map((s) => s.timestamps[0]));
        for (const s of d.series) {
          // one colour per task, one dash per series of the metric
          const variants = all.filter((x) => x.metric === s.metric).map((x) => x.variant);
          const dash = DASHES[[...new Set(variants)].sort().indexOf(s.variant) % DASHES.length];
          const single = d.series.filter((x) => x.metric === s.metric).length === 1;
          items.push({ series: s, name: single ? d.task.name : `${d.task.name} · ${s.variant}`, color: d.task.color, dash, t0 });
        }
      }
      renderGroups(cmp, byMetric(items), state, null);
      if (!items.length) cmp.innerHTML = '<p class="muted">No scalars reported.</p>';
    };
    Promise.all(tasks.map(async (t) => ({ task: t, series: await Arno.getJSON(`/api/v1/tasks/${t.id}/scalars?timestamps=true&max_points=${COMPARE_POINTS}`) })))
      .then((data) => { state.data = data; draw(); })
      .catch((e) => { cmp.textContent = "Could not load scalars: " + e.message; });
    hookControls(draw, cmp);
  }

  // ---- compare: parallel coordinates ------------------------------------------------------
  const par = document.getElementById("parcoords");
  if (par) {
    const spec = JSON.parse(par.dataset.dims);
    const dims = spec.dims.map((d) => {
      const numeric = d.values.every((v) => v === null || typeof v === "number");
      if (numeric) return { label: d.label, values: d.values.map((v) => (v === null ? NaN : v)) };
      const cats = [...new Set(d.values.map((v) => (v === null ? "—" : String(v))))].sort();
      return { label: d.label, values: d.values.map((v) => cats.indexOf(v === null ? "—" : String(v))), tickvals: cats.map((_, i) => i), ticktext: cats };
    });
    const mv = spec.metric_values.map((v) => (v === null ? NaN : v));
    if (spec.metric) dims.push({ label: spec.metric.replace("|", " : "), values: mv });
    if (!dims.length) {
      par.innerHTML = '<p class="muted" style="padding:1rem">Choose hyperparameters and a metric.</p>';
    } else {
      Plotly.newPlot(par, [{
        type: "parcoords", dimensions: dims,
        line: spec.metric ? { color: mv, colorscale: "Viridis", showscale: true, colorbar: { title: { text: "metric" } } } : { color: "#2f6fdf" },
      }], { margin: { l: 80, r: 80, t: 60, b: 30 }, height: 520, font: { size: 11 } }, CONFIG);
    }
  }
})();
