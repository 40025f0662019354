"use strict";
// The tenant timeline page. It holds no tenant data: it asks for a bearer
// token (kept in sessionStorage), fetches the timeline JSON with it and
// draws it. Every value from the server goes into the page as text
// (textContent), never as markup.
(function () {
  const TOKEN_KEY = "tenantry-admin-token";
  const tenant = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
  const api = "/admin/v1/tenants/" + encodeURIComponent(tenant);
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const time = (ms) => (ms === null || ms === undefined ? "" : new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC"));
  const badge = (cls, text) => el("span", { class: "badge " + cls }, text);

  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function showTokenForm(message) {
    $("token-form").hidden = false;
    $("content").hidden = true;
    document.body.dataset.state = "token";
    if (message) showError(message);
  }
  function showError(text) { const e = $("error"); e.textContent = text; e.hidden = false; }
  function clearError() { $("error").hidden = true; $("error").textContent = ""; }
  function notice(text) { const n = $("notice"); n.textContent = text; n.hidden = !text; }

  // "401 unauthorized (expired): the token has expired" from a JSON error body.
  async function describe(response) {
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    const e = (body && body.error) || {};
    const what = { 400: "bad request", 401: "not signed in", 403: "not allowed", 404: "not found", 409: "conflict" }[response.status] || "failed";
    const detail = [e.field ? "field " + e.field : null, e.reason, e.message].filter(Boolean).join(": ");
    return response.status + " " + what + (e.code ? " (" + e.code + ")" : "") + (detail ? " — " + detail : "");
  }

  async function call(method, path) {
    const t = token();
    if (!t) { showTokenForm(); return null; }
    const response = await fetch(api + path, { method, headers: { Authorization: "Bearer " + t, Accept: "application/json" }, cache: "no-store" });
    if (response.status === 401) {
      showTokenForm(await describe(response));
      return null;
    }
    return response;
  }

  async function load() {
    clearError();
    let response;
    try { response = await call("GET", "/timeline"); } catch (e) { showError("cannot reach the admin server: " + e); return; }
    if (!response) return;
    if (!response.ok) {
      const message = await describe(response);
      $("content").hidden = true;
      // A token for other tenants or routes: let the operator give another.
      $("token-form").hidden = response.status !== 403;
      document.body.dataset.state = "error";
      showError(message);
      return;
    }
    render(await response.json());
  }

  function render(doc) {
    $("token-form").hidden = true;
    $("content").hidden = false;
    renderParking(doc.parking);
    renderEvents(doc.events);
    renderSagas(doc.sagas);
    $("context").textContent = doc.context ? JSON.stringify(doc.context, null, 2) : "no context yet (the projector has written none)";
    document.body.dataset.state = "loaded";
  }

  function renderParking(p) {
    const box = $("parking");
    box.replaceChildren();
    box.dataset.parked = p ? "true" : "false";
    $("actions").hidden = !p;
    if (!p) {
      box.append(el("strong", { class: "not-parked" }, "Not parked"), " — its events are released in commerce-sequence order.");
      return;
    }
    box.append(...[
      el("strong", { class: "parked" }, "Parked (" + p.kind + ")"),
      " since " + time(p.since_ms) + ", " + p.waiting + " event(s) waiting.",
      el("div", { class: "reason", id: "parking-reason" }, "Reason: " + p.reason),
      p.saga_id ? el("div", { class: "hint mono" }, "saga " + p.saga_id) : null,
      p.pending_action ? el("div", { id: "pending" }, "Requested: " + p.pending_action + " (waiting for the provisioner)") : null,
    ].filter((node) => node !== null));
  }

  function renderEvents(events) {
    const body = $("events").tBodies[0];
    body.replaceChildren();
    if (!events.length) body.append(el("tr", {}, el("td", { colspan: "5", class: "hint" }, "no commerce events recorded")));
    for (const e of events) {
      body.append(el("tr", { "data-sequence": e.sequence, "data-status": e.status },
        el("td", {}, e.sequence),
        el("td", {}, e.kind),
        el("td", {}, badge("status-" + e.status, e.status)),
        el("td", {}, time(e.recorded_at_ms)),
        el("td", {}, e.reason ? e.reason + " (" + time(e.rejected_at_ms) + ")" : ""),
      ));
    }
  }

  function renderSagas(sagas) {
    const box = $("sagas");
    box.replaceChildren();
    if (!sagas.length) box.append(el("p", { class: "hint" }, "no sagas"));
    for (const s of sagas) {
      const steps = el("ol", { class: "steps" });
      for (const st of s.steps) {
        steps.append(el("li", { class: "state-" + st.state, "data-step": st.step, "data-state": st.state, title: st.state }, st.number + " " + st.step + " · " + st.state.replace("_", " ")));
      }
      const rows = el("tbody");
      for (const h of s.history) {
        rows.append(el("tr", { "data-kind": h.kind },
          el("td", {}, time(h.at_ms)), el("td", {}, "v" + h.version), el("td", {}, h.kind.replace(/_/g, " ")),
          el("td", {}, h.step || ""), el("td", {}, h.detail || "")));
      }
      box.append(el("article", { class: "saga", "data-saga": s.saga_id, "data-status": s.status },
        el("h3", {}, s.kind + (s.product ? " · " + s.product : "") + " ", badge("status-" + s.status, s.status)),
        el("div", { class: "hint" }, "sequence " + s.trigger_sequence + " · v" + s.version + " · started " + time(s.started_at_ms) + " · last written " + time(s.updated_at_ms) + " · " + s.saga_id),
        s.failure ? el("div", { class: "failure" }, "Failure: " + s.failure) : null,
        steps,
        axis(s.history),
        el("details", {}, el("summary", {}, "history (" + s.history.length + ")"),
          el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "at"), el("th", {}, "version"), el("th", {}, "what"), el("th", {}, "step"), el("th", {}, "detail"))), rows)),
      ));
    }
  }

  // The saga's history on a time axis: one marker per event with its label;
  // a marker whose label would overlap another's goes up a level.
  function axis(history) {
    const width = 1000, left = 20, right = 20;
    const times = history.map((h) => h.at_ms);
    const t0 = Math.min(...times), t1 = Math.max(...times);
    const span = Math.max(t1 - t0, 1);
    const x = (t) => left + ((t - t0) / span) * (width - left - right);
    const levels = []; // per level, the [from, to] spans taken
    const placed = history.map((h) => {
      const px = Math.round(x(h.at_ms));
      const label = (h.step || h.kind.replace(/_/g, " ")) + (h.kind === "step_compensated" ? " ↺" : "");
      // Labels of the right half go to the left of their marker, inside the axis.
      const toLeft = px > width / 2;
      const extent = 12 + label.length * 6.2;
      const from = toLeft ? px - extent : px - 6, to = toLeft ? px + 6 : px + extent;
      let level = levels.findIndex((spans) => spans.every(([a, b]) => to < a || from > b));
      if (level < 0) { level = levels.length; levels.push([]); }
      levels[level].push([from, to]);
      return { h, px, level, label, toLeft };
    });
    const height = 40 + Math.max(1, levels.length) * 14;
    const root = svg("svg", { class: "axis", viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": "saga time axis" });
    const base = height - 22;
    root.append(svg("line", { x1: left, x2: width - right, y1: base, y2: base, stroke: "#9aa3b2" }));
    root.append(svg("text", { x: left, y: height - 6 }, time(t0)));
    if (t1 > t0) root.append(svg("text", { x: width - right, y: height - 6, "text-anchor": "end" }, time(t1) + " (+" + (t1 - t0) + " ms)"));
    for (const { h, px, level, label, toLeft } of placed) {
      const y = base - 8 - level * 14;
      const g = svg("g", { class: h.kind });
      g.append(svg("title", {}, time(h.at_ms) + " " + h.kind + (h.step ? " " + h.step : "") + (h.detail ? ": " + h.detail : "")));
      if (level > 0) g.append(svg("line", { x1: px, x2: px, y1: base, y2: y, stroke: "#d5dae2" }));
      g.append(svg("circle", { cx: px, cy: y, r: 5, class: h.kind }));
      g.append(svg("text", { x: toLeft ? px - 8 : px + 8, y: y + 3, "text-anchor": toLeft ? "end" : "start" }, label));
      root.append(g);
    }
    return root;
  }

  async function act(action) {
    if (action === "skip" && !confirm("Skip gives up the change the failed saga was making for " + tenant + "; later events that need it are rejected. Skip?")) return;
    clearError();
    let response;
    try { response = await call("POST", "/" + action); } catch (e) { showError("cannot reach the admin server: " + e); return; }
    if (!response) return;
    if (!response.ok) { showError(await describe(response)); return; }
    const body = await response.json();
    notice(body.message);
    await load();
  }

  $("tenant-id").textContent = tenant;
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    $("token").value = "";
    load();
  });
  $("retry").addEventListener("click", () => act("retry"));
  $("skip").addEventListener("click", () => act("skip"));
  $("reload").addEventListener("click", () => { notice(""); load(); });
  $("forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); notice(""); showTokenForm(); });
  if (token()) load(); else showTokenForm();
})();
