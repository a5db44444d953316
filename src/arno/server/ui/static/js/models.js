/* The models table: selection for the bulk publish and archive buttons. */
"use strict";
(() => {
  const table = document.getElementById("modeltable");
  if (!table) return;
  const bulk = document.getElementById("bulk");
  const boxes = () => Array.from(table.querySelectorAll('tbody input[name="ids"]'));
  const selall = document.getElementById("selall");
  function refresh() {
    const ids = boxes().filter((b) => b.checked);
    document.getElementById("selcount").textContent = ids.length + " selected";
    bulk.classList.toggle("active", ids.length > 0);
    for (const b of bulk.querySelectorAll("button")) b.disabled = ids.length === 0;
    for (const b of boxes()) b.closest("tr").classList.toggle("selected", b.checked);
    if (selall) {
      const all = boxes();
      selall.checked = all.length > 0 && ids.length === all.length;
      selall.indeterminate = ids.length > 0 && ids.length < all.length;
    }
  }
  table.addEventListener("change", (ev) => { if (ev.target.name === "ids") refresh(); });
  if (selall) selall.addEventListener("change", () => { for (const b of boxes()) b.checked = selall.checked; refresh(); });
  const colform = document.getElementById("colform");
  if (colform) colform.addEventListener("submit", () => {
    const add = document.getElementById("coladd");
    if (!add.value.trim()) add.disabled = true;
    if (!colform.querySelector('input[name="col"]:checked') && add.disabled) {
      colform.append(Arno.el("input", { type: "hidden", name: "col", value: "" }));
    }
  });
  refresh();
})();
