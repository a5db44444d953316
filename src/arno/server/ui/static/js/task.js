/* Task page and compare page: live status, console follow, debug samples. */
"use strict";
(() => {
  const FINAL = ["completed", "failed", "stopped", "published", "created"];
  const head = document.getElementById("taskhead");
  window.ArnoLive = { running: !!(head && head.dataset.live === "1") };

  // ---- live status of a running task -------------------------------------------------------
  if (head && head.dataset.live === "1") {
    const id = head.dataset.task;
    const timer = Arno.every(3000, async () => {
      const data = await Arno.getJSON("/tasks/live.json?ids=" + id);
      const t = data.tasks[0];
      if (!t) return;
      const st = document.getElementById("taskstatus");
      if (head.dataset.status !== t.status) {
        head.dataset.status = t.status;
        st.innerHTML = "";
        st.append(Arno.el("span", { class: "status st-" + t.status, "data-status": t.status, text: t.status.replace("_", " ") }));
      }
      const it = document.getElementById("taskiter");
      if (it) it.textContent = t.last_iteration === null ? "—" : t.last_iteration;
      const du = document.getElementById("taskdur");
      if (du) du.textContent = t.duration;
      const msg = document.getElementById("taskmsg");
      if (msg) msg.textContent = t.status_message;
      if (FINAL.includes(t.status)) {
        clearInterval(timer);
        window.ArnoLive.running = false;
        document.dispatchEvent(new CustomEvent("arno:final"));
        st.append(" ", Arno.el("a", { href: location.href, class: "small", text: "reload" }));
      }
    });
  }

  // ---- console ------------------------------------------------------------------------------
  const con = document.getElementById("console");
  if (con) {
    con.scrollTop = con.scrollHeight;
    if (con.dataset.live === "1") {
      const follow = document.getElementById("follow");
      let after = Number(con.dataset.after || 0);
      const timer = Arno.every(2000, async () => {
        const lines = await Arno.getJSON(`/api/v1/tasks/${con.dataset.task}/console?after=${after}&limit=5000`);
        if (!lines.length) { if (!window.ArnoLive.running) clearInterval(timer); return; }
        const atBottom = con.scrollTop + con.clientHeight >= con.scrollHeight - 30;
        for (const l of lines) {
          con.append(Arno.el("span", { class: l.stream === "stderr" ? "err" : null, text: l.text.endsWith("\n") ? l.text : l.text + "\n" }));
          after = l.id;
        }
        if (follow && follow.checked && atBottom) con.scrollTop = con.scrollHeight;
      });
    }
  }

  // ---- debug samples --------------------------------------------------------------------------
  function media(taskId, s) {
    const src = s.hash ? `/tasks/${taskId}/samples/${s.id}` : (/^https?:\/\//.test(s.url) ? s.url : null);
    if (!src) return Arno.el("div", { class: "muted small", text: s.url || "(no data)" });
    if (s.kind === "image") return Arno.el("a", { href: src, target: "_blank", rel: "noopener" }, Arno.el("img", { src, alt: `${s.metric} ${s.variant} ${s.iteration}`, loading: "lazy" }));
    if (s.kind === "audio") return Arno.el("audio", { src, controls: true, preload: "none" });
    if (s.kind === "video") return Arno.el("video", { src, controls: true, preload: "metadata" });
    if (s.kind === "html") return Arno.el("iframe", { src, sandbox: "allow-scripts", loading: "lazy", title: `${s.metric} ${s.variant}` });
    return Arno.el("a", { href: src, text: "download" });
  }

  // the sample of each (metric, variant) shown at iteration `it`: the latest at or before it
  function pick(samples, it) {
    const out = new Map();
    for (const s of samples) {
      if (s.iteration > it) continue;
      const key = s.metric + "\u0000" + s.variant;
      const cur = out.get(key);
      if (!cur || s.iteration > cur.iteration || (s.iteration === cur.iteration && s.id > cur.id)) out.set(key, s);
    }
    return out;
  }

  function samplesView(root, tasks) {
    const slider = document.getElementById("iterslider");
    const latest = document.getElementById("iterlatest");
    const label = document.getElementById("iterval");
    const filter = document.getElementById("samplefilter");
    let data = [];
    let iters = [];

    function draw() {
      const it = latest.checked ? iters[iters.length - 1] : iters[Number(slider.value)];
      label.textContent = it === undefined ? "" : it;
      const f = filter.value.trim().toLowerCase();
      const picked = data.map((d) => pick(d.samples, it === undefined ? Infinity : it));
      const keys = new Map();
      for (const d of data) for (const s of d.samples) keys.set(s.metric + "\u0000" + s.variant, [s.metric, s.variant]);
      const metrics = new Map();
      for (const [key, [m, v]] of [...keys.entries()].sort()) {
        if (f && !(m + " " + v).toLowerCase().includes(f)) continue;
        if (!metrics.has(m)) metrics.set(m, []);
        metrics.get(m).push([key, v]);
      }
      root.innerHTML = "";
      if (!metrics.size) { root.append(Arno.el("p", { class: "muted", text: data.some((d) => d.samples.length) ? "No sample matches." : "No debug samples reported." })); return; }
      for (const [m, variants] of metrics) {
        const group = Arno.el("div", { class: "samplegroup" }, Arno.el("h3", { text: m }));
        if (tasks.length === 1) {
          const grid = Arno.el("div", { class: "samplegrid" });
          for (const [key, v] of variants) {
            const s = picked[0].get(key);
            grid.append(Arno.el("div", { class: "sample" }, Arno.el("div", { class: "cap", text: `${v} · iteration ${s ? s.iteration : "—"}` }), s ? media(tasks[0].id, s) : Arno.el("div", { class: "muted small", text: "none yet" })));
          }
          group.append(grid);
        } else {
          for (const [key, v] of variants) {
            const row = Arno.el("div", { class: "samplerow", style: `grid-template-columns: repeat(${tasks.length}, minmax(0, 1fr))` });
            tasks.forEach((t, i) => {
              const s = picked[i].get(key);
              row.append(Arno.el("div", { class: "sample", style: `border-top: 3px solid ${t.color}` },
                Arno.el("div", { class: "cap", text: `${t.name} · ${v} · iteration ${s ? s.iteration : "—"}` }),
                s ? media(t.id, s) : Arno.el("div", { class: "muted small", text: "none" })));
            });
            group.append(row);
          }
        }
        root.append(group);
      }
    }

    async function load() {
      data = await Promise.all(tasks.map(async (t) => ({ task: t, samples: await Arno.getJSON(`/api/v1/tasks/${t.id}/debug_samples`) })));
      iters = [...new Set(data.flatMap((d) => d.samples.map((s) => s.iteration)))].sort((a, b) => a - b);
      slider.max = Math.max(0, iters.length - 1);
      if (latest.checked) slider.value = slider.max;
      draw();
    }
    slider.addEventListener("input", () => { latest.checked = false; draw(); });
    latest.addEventListener("change", () => { if (latest.checked) slider.value = slider.max; draw(); });
    filter.addEventListener("input", draw);
    load().catch((e) => { root.textContent = "Could not load samples: " + e.message; });
    if (window.ArnoLive.running) Arno.every(5000, async () => { if (window.ArnoLive.running) await load(); });
  }

  const one = document.getElementById("samples");
  if (one) samplesView(one, [{ id: one.dataset.task, name: "", color: "#888" }]);
  const many = document.getElementById("comparesamples");
  if (many) samplesView(many, JSON.parse(many.dataset.tasks));

  // ---- compare: only differences --------------------------------------------------------------
  const onlydiff = document.getElementById("onlydiff");
  const cmpTable = document.getElementById("comparetable");
  if (onlydiff && cmpTable) {
    const apply = () => {
      cmpTable.classList.toggle("onlydiff", onlydiff.checked);
      const url = new URL(location.href);
      if (onlydiff.checked) url.searchParams.set("diff", "1"); else url.searchParams.delete("diff");
      history.replaceState(null, "", url);
    };
    onlydiff.addEventListener("change", apply);
    apply();
  }
})();
