/* The experiment table: selection and bulk actions, compare, column picker, live rows. */
"use strict";
(() => {
  const table = document.getElementById("tasktable");
  if (!table) return;
  const bulk = document.getElementById("bulk");
  const boxes = () => Array.from(table.querySelectorAll('tbody input[name="ids"]'));
  const selected = () => boxes().filter((b) => b.checked).map((b) => b.value);
  const selall = document.getElementById("selall");

  function refresh() {
    const ids = selected();
    document.getElementById("selcount").textContent = ids.length + " selected";
    bulk.classList.toggle("active", ids.length > 0);
    for (const b of bulk.querySelectorAll("button")) {
      const need = Number(b.dataset.needs || 1);
      b.disabled = ids.length < need;
    }
    for (const b of boxes()) b.closest("tr").classList.toggle("selected", b.checked);
    if (selall) {
      const all = boxes();
      selall.checked = all.length > 0 && ids.length === all.length;
      selall.indeterminate = ids.length > 0 && ids.length < all.length;
    }
  }
  table.addEventListener("change", (ev) => { if (ev.target.name === "ids") refresh(); });
  if (selall) selall.addEventListener("change", () => { for (const b of boxes()) b.checked = selall.checked; refresh(); });
  // shift-click selects a range
  let last = null;
  table.addEventListener("click", (ev) => {
    const box = ev.target.closest('input[name="ids"]');
    if (!box) return;
    const all = boxes();
    if (ev.shiftKey && last !== null) {
      const [a, b] = [all.indexOf(last), all.indexOf(box)].sort((x, y) => x - y);
      for (let i = a; i <= b; i++) all[i].checked = box.checked;
      refresh();
    }
    last = box;
  });
  const cmp = bulk.querySelector(".js-compare");
  if (cmp) cmp.addEventListener("click", () => {
    const ids = selected();
    if (ids.length) window.location = "/compare?ids=" + ids.join(",");
  });
  refresh();

  // column picker: suggestions of the project's hyperparameters and metrics
  const picker = document.querySelector(".colpicker");
  const colform = document.getElementById("colform");
  if (picker && colform) {
    let loaded = false;
    picker.addEventListener("toggle", async () => {
      if (!picker.open || loaded) return;
      loaded = true;
      const project = colform.dataset.project;
      try {
        const data = await Arno.getJSON("/tasks/columns.json" + (project ? "?project=" + encodeURIComponent(project) : ""));
        const list = document.getElementById("colkeys");
        for (const key of data.columns) list.append(Arno.el("option", { value: key }));
      } catch (e) { console.warn(e); }
      document.getElementById("coladd").focus();
    });
    colform.addEventListener("submit", () => {
      const add = document.getElementById("coladd");
      if (!add.value.trim()) add.disabled = true;
      if (!colform.querySelector('input[name="col"]:checked') && add.disabled) {
        colform.append(Arno.el("input", { type: "hidden", name: "col", value: "" }));
      }
    });
  }

  // running and queued rows refresh in place
  const liveRows = () => Array.from(table.querySelectorAll("tbody tr[data-status]"))
    .filter((tr) => tr.dataset.status === "in_progress" || tr.dataset.status === "queued");
  if (liveRows().length) {
    Arno.every(4000, async () => {
      const rows = liveRows();
      if (!rows.length) return;
      const data = await Arno.getJSON("/tasks/live.json?ids=" + rows.map((r) => r.dataset.task).join(","));
      for (const t of data.tasks) {
        const tr = table.querySelector(`tr[data-task="${t.id}"]`);
        if (!tr) continue;
        tr.dataset.status = t.status;
        const st = tr.querySelector('[data-field="status"]');
        if (st) st.innerHTML = "", st.append(Arno.el("span", { class: "status st-" + t.status, "data-status": t.status, text: t.status.replace("_", " ") }));
        const it = tr.querySelector('[data-field="last_iteration"]');
        if (it) it.textContent = t.last_iteration === null ? "" : t.last_iteration;
        const du = tr.querySelector('[data-field="duration"]');
        if (du) du.textContent = t.duration;
      }
    });
  }
})();
