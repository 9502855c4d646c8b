// Ampflow console: controls that call the JSON API, and live updates over Server-Sent Events.
// Pages are complete without this script (read-only); it adds the buttons' behaviour.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

function flash(text, kind) {
  const box = document.getElementById("flash");
  box.hidden = false;
  box.className = "flash " + (kind || "ok");
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.textContent = text;
  box.focus && box.scrollIntoView({ block: "nearest" });
}

function messageOf(status, body) {
  let detail = body && body.detail !== undefined ? body.detail : body;
  if (body && body.outcome) {  // a station command's record
    const told = { offline: "The station is offline.", rejected: "The charger refused",
      timeout: "The charger did not answer in time.", not_supported: "The charger does not support this." };
    return (told[body.outcome] || "The command failed.") +
      (body.status ? " (" + body.status + ")" : "") + (body.error ? " " + body.error : "");
  }
  if (Array.isArray(detail)) {
    detail = detail
      .map((d) => ((d.loc || []).slice(1).join(".") || "input") + ": " + (d.msg || "invalid"))
      .join("; ");
  } else if (detail && typeof detail === "object") {
    detail = detail.message || JSON.stringify(detail);
  }
  const meaning = {
    401: "You are signed out: sign in again.",
    403: "Your role may not do this.",
    404: "Not found.",
    409: "Not possible now.",
    422: "Please check the input.",
    429: "Too many requests: wait a moment.",
    502: "The charger refused.",
    503: "A service is unavailable: try again shortly.",
    504: "The charger did not answer in time.",
  }[status] || "The request failed (" + status + ").";
  return detail ? meaning + " " + detail : meaning;
}

function setPath(target, dotted, value) {
  const keys = dotted.split(".");
  let node = target;
  keys.slice(0, -1).forEach((k) => (node = node[k] = node[k] || {}));
  node[keys[keys.length - 1]] = value;
}

function typed(el) {
  const kind = el.dataset.type;
  if (el.type === "checkbox") return el.checked;
  const raw = el.value.trim();
  if (raw === "") return el.dataset.empty === "null" ? null : undefined;
  if (kind === "int") return parseInt(raw, 10);
  if (kind === "number") return parseFloat(raw);
  if (kind === "bool") return raw === "true";
  if (kind === "list") return raw.split(/[\s,]+/).filter(Boolean);
  if (kind === "json") return JSON.parse(raw);
  if (kind === "minor") return Math.round(parseFloat(raw) * 100);
  if (kind === "datetime") return new Date(raw).toISOString();
  return raw;
}

function request(form) {
  const [method, path] = form.dataset.api.split(" ");
  const body = {};
  const query = new URLSearchParams();
  let file = null;
  const inPath = {};
  for (const el of form.querySelectorAll("input[name], select[name], textarea[name]")) {
    if (el.type === "file") { file = el.files[0] || null; continue; }
    if (el.dataset.skip) continue;
    if (el.dataset.path) { inPath[el.name] = el.value.trim(); continue; }
    const value = typed(el);
    if (value === undefined) continue;
    if (el.dataset.in === "query") query.append(el.name, value);
    else setPath(body, el.name, value);
  }
  if (form.dataset.pair) {  // a key and a value field: {pair: {key: value}}
    body[form.dataset.pair] = { [form.elements.key.value]: form.elements.value.value };
  }
  const target = path.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(inPath[k] || ""));
  const headers = { "X-CSRF-Token": csrf() };
  let payload;
  if (file) {  // a raw body; its name as the API's file_name parameter
    payload = file;
    headers["Content-Type"] = "application/octet-stream";
    if (!query.has("file_name")) query.append("file_name", file.name);
  }
  else if (method !== "GET" && method !== "DELETE") {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const url = target + (query.toString() ? "?" + query : "");
  return fetch(url, { method, headers, body: payload, credentials: "same-origin" });
}

function fill(template, data) {
  return template.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(data[k] ?? ""));
}

async function submitAction(event) {
  const form = event.target.closest("form[data-api]");
  if (!form) return;
  event.preventDefault();
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  try {
    const response = await request(form);
    const text = await response.text();
    let data = text;
    try { data = text ? JSON.parse(text) : {}; } catch (_) { /* not JSON */ }
    if (!response.ok) { flash(messageOf(response.status, data), "error"); return; }
    const done = form.dataset.done || (button ? button.textContent.trim() + ": done." : "Done.");
    if (form.dataset.show) {
      const out = document.querySelector(form.dataset.show);
      out.hidden = false;
      out.textContent = typeof data === "string" ? data : JSON.stringify(data, null, 2);
    }
    flash(done, "ok");
    const then = form.dataset.then || "reload";
    if (then === "reload") setTimeout(() => window.location.reload(), 400);
    else if (then.startsWith("@")) {  // an address the answer gives (e.g. a payment page)
      const target = String((data || {})[then.slice(1)] || "");
      if (/^(https?:\/\/|\/)/.test(target)) window.location.assign(target);
    }
    else if (then !== "stay") window.location.assign(fill(then, data || {}));
  } catch (err) {
    flash("Could not reach the server: " + err.message, "error");
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- live updates -------------------------------------------------------------------------

const kw = (w) => (w === null || w === undefined ? "–" : (w / 1000).toFixed(1) + " kW");
const setText = (sel, text) => document.querySelectorAll(sel).forEach((el) => (el.textContent = text));

function onFleetEvent(type, e) {
  const fleet = document.querySelector("[data-fleet-stream]");
  if (fleet && type === "station" && e.station_id &&
      !document.querySelector(`[data-online="${e.station_id}"]`)) {  // a station not listed yet
    const box = document.getElementById("flash");
    box.hidden = false;
    box.className = "flash ok";
    box.replaceChildren(`Station ${e.station_id} connected. `);
    const again = document.createElement("a");
    again.href = window.location.href;
    again.textContent = "Show it";
    box.append(again);
  }
  const at = e.at ? e.at.replace("T", " ").slice(0, 19) + " UTC" : "";
  if (e.station_id && at) setText(`[data-last-seen="${e.station_id}"]`, at);
  if (type === "connector") {
    const key = `${e.station_id}/${e.connector_id}`;
    if (!document.querySelector(`[data-connector="${key}"]`)) {  // first report of this one
      document.querySelectorAll(`[data-connectors="${e.station_id}"]`).forEach((cell) => {
        cell.querySelectorAll(".none").forEach((el) => el.remove());
        const item = document.createElement("span");
        item.append(`#${e.connector_id} `);
        const badge = document.createElement("span");
        badge.dataset.connector = key;
        item.append(badge, " ");
        cell.append(item);
      });
    }
    document.querySelectorAll(`[data-connector="${e.station_id}/${e.connector_id}"]`).forEach((el) => {
      el.textContent = e.status + (e.fault ? " · " + e.fault : "");
      el.className = "badge s-" + String(e.status).toLowerCase();
    });
  } else if (type === "station") {
    if (e.event === "connected" || e.event === "disconnected") {
      const badge = document.querySelector(`[data-online="${e.station_id}"]`);
      if (badge && (badge.textContent === "online") !== e.online) {  // the overview's counts
        const delta = e.online ? 1 : -1;
        document.querySelectorAll("[data-stat=online]").forEach((n) => (n.textContent = +n.textContent + delta));
        document.querySelectorAll("[data-stat=offline]").forEach((n) => (n.textContent = +n.textContent - delta));
      }
      document.querySelectorAll(`[data-online="${e.station_id}"]`).forEach((el) => {
        el.textContent = e.online ? "online" : "offline";
        el.className = "badge s-" + (e.online ? "online" : "offline");
      });
    } else if (e.event === "booted") {
      if (e.firmware_version) setText(`[data-firmware="${e.station_id}"]`, e.firmware_version);
      if (e.vendor) setText(`[data-model="${e.station_id}"]`, `${e.vendor} ${e.model || ""}`);
    } else if (e.event === "firmware" || e.event === "diagnostics") {
      setText(`[data-${e.event}-status="${e.station_id}"]`, e.status);
    }
  } else if (type === "meter") {
    document.querySelectorAll(`[data-power="${e.station_id}/${e.connector_id}"]`).forEach((el) => {
      el.textContent = kw(e.power_w);
      el.dataset.watts = e.power_w || 0;
    });
    const cells = document.querySelectorAll("[data-watts]");
    if (cells.length) {  // the fleet's power now: the sum of the last readings shown
      const total = [...cells].reduce((sum, el) => sum + (+el.dataset.watts || 0), 0);
      setText("[data-stat=power]", kw(total));
    }
  } else if (type === "session" && e.event === "stopped") {
    document.querySelectorAll(`[data-power="${e.station_id}/${e.connector_id}"]`).forEach((el) => {
      el.textContent = kw(null);
      el.dataset.watts = 0;
    });
  } else if (type === "alert") {
    document.querySelectorAll("[data-alert-feed]").forEach((el) => {
      const li = document.createElement("li");
      li.textContent = `${e.event}: ${e.cause} at ${e.station_id || "the network"} — ${e.message || ""}`;
      el.prepend(li);
    });
  }
  document.querySelectorAll("[data-live-state]").forEach((el) => (el.textContent = "live"));
}

function follow(url, handler) {
  const source = new EventSource(url, { withCredentials: true });
  ["station", "connector", "meter", "session", "alert", "ready", "job"].forEach((type) =>
    source.addEventListener(type, (m) => handler(type, JSON.parse(m.data))));
  source.onerror = () => setText("[data-live-state]", "reconnecting…");
  return source;
}

function onSessionView(type, view) {
  if (type !== "session") return;
  for (const [key, value] of Object.entries(view)) {
    document.querySelectorAll(`[data-field="${key}"]`).forEach((el) => {
      if (el.tagName === "A") { el.href = value || "#"; el.hidden = !value; }
      else el.textContent = value ?? "–";
    });
  }
  document.querySelectorAll("[data-when-running]").forEach((el) => (el.hidden = !view.running));
  document.querySelectorAll("[data-when-receipt]").forEach((el) => (el.hidden = !view.receipt_url));
  setText("[data-live-state]", view.final ? "finished" : "live");
  const stream = document.querySelector("[data-rendered-final=false]");
  if (view.final && view.receipt_url && stream) {  // payments and receipt are on the page now
    stream.dataset.renderedFinal = "true";
    setTimeout(() => window.location.reload(), 1500);
  }
}

function onJobView(type, view) {  // a job's page: redraw when its state or progress changes
  if (type !== "job") return;
  const watch = document.querySelector("[data-job-watch]");
  const shown = JSON.stringify(view.progress);
  if (view.state !== watch.dataset.state) window.location.reload();  // it ended, or changed
  else if (window.__jobShown === undefined) window.__jobShown = shown;
  else if (shown !== window.__jobShown) window.location.reload();
  setText("[data-live-state]", view.final ? "finished" : "live");
}

document.addEventListener("submit", submitAction);
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-fleet-stream]").forEach((el) => follow(el.dataset.fleetStream, onFleetEvent));
  document.querySelectorAll("[data-session-stream]").forEach((el) => follow(el.dataset.sessionStream, onSessionView));
  document.querySelectorAll("[data-job-watch]").forEach((el) => follow(el.dataset.jobWatch, onJobView));
  document.querySelectorAll("[data-job-stream]").forEach((el) =>
    follow(el.dataset.jobStream, (type, e) => {
      onFleetEvent(type, e);
      if (type === "station" && (e.event === "firmware" || e.event === "diagnostics" || e.event === "booted")) {
        clearTimeout(window.__reloadSoon);
        window.__reloadSoon = setTimeout(() => window.location.reload(), 1500);
      }
    }));
});
