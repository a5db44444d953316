/* Arno UI: what every page shares. Plain JavaScript, no build step. */
"use strict";
const Arno = (() => {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function getJSON(url) {
    const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (resp.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname + location.search); throw new Error("signed out"); }
    if (!resp.ok) {
      let msg = resp.status + " " + resp.statusText;
      try { msg = (await resp.json()).error.message || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return resp.json();
  }

  async function sendJSON(method, url, body) {
    const resp = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!resp.ok) throw new Error((await resp.text()) || resp.statusText);
    return resp.status === 204 ? null : resp.json();
  }

  // Non-finite values come as "NaN", "Infinity", "-Infinity" strings.
  const num = (v) => (typeof v === "number" ? v : v === null || v === undefined ? NaN : Number(v));

  function fmt(v) {
    if (v === null || v === undefined || v === "") return "";
    const x = num(v);
    if (!Number.isFinite(x)) return String(v);
    if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
    return Number(x.toPrecision(6)).toString();
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function every(ms, fn) {
    // poll while the tab is visible; never two calls at once
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try { await fn(); } catch (e) { console.warn(e); } finally { busy = false; }
    };
    return setInterval(tick, ms);
  }

  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest(".js-confirm");
    if (btn && !confirm(btn.dataset.confirm || "Are you sure?")) ev.preventDefault();
  });
  document.addEventListener("change", (ev) => {
    if (ev.target.classList && ev.target.classList.contains("js-autosubmit")) {
      const form = ev.target.form;
      if (form) form.requestSubmit ? form.requestSubmit() : form.submit();
    }
  });
  // filter forms: leave empty fields out of the URL so shared links stay short
  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (!form.classList.contains("js-clean-submit")) return;
    for (const input of Array.from(form.elements)) {
      if (input.name && (input.value === "" || input.value === undefined) && input.type !== "checkbox") input.disabled = true;
    }
    setTimeout(() => { for (const input of Array.from(form.elements)) input.disabled = false; }, 0);
  }, true);

  return { csrf, getJSON, sendJSON, num, fmt, el, every };
})();
