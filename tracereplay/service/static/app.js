// tracereplay live dashboard: polls the agent's API once a second, draws four canvas charts, and sends
// the controls (add/remove users, stop) to the run. No library, nothing fetched from elsewhere.
"use strict";

const REFRESH_MS = 1000;
const params = new URLSearchParams(location.search);
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get("token")) {
  sessionStorage.setItem("tracereplay-token", hash.get("token"));
  history.replaceState(null, "", location.pathname + location.search); // keep the token out of history
}
const token = sessionStorage.getItem("tracereplay-token");
let runId = params.get("run");
let points = [];
let lastT = -1;
let state = "";

async function api(method, path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const response = await fetch(path, { method, headers });
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function say(text, isError) {
  const el = document.getElementById("message");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

async function pickRun() {
  if (runId) return runId;
  const runs = await api("GET", "/loadagent/runs");
  const live = runs.filter((r) => r.state === "running" || r.state === "stopping");
  const chosen = live.length ? live[live.length - 1] : runs[runs.length - 1];
  return chosen ? chosen.id : null;
}

function fmt(value, digits) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

async function refresh() {
  try {
    runId = await pickRun();
    if (!runId) { say("no run on this agent yet"); return; }
    document.getElementById("run-id").textContent = runId;
    const [status, fresh] = await Promise.all([
      api("GET", `/loadagent/${encodeURIComponent(runId)}/status`),
      api("GET", `/loadagent/${encodeURIComponent(runId)}/series?since=${lastT}`),
    ]);
    state = status.state;
    document.getElementById("state").textContent = "· " + state;
    if (fresh.length) {
      points = points.concat(fresh).slice(-600);
      lastT = points[points.length - 1].t;
    }
    const live = status.live || {};
    document.getElementById("facts").innerHTML =
      `<b>${fmt(live.rps, 0)}</b> req/s · <b>${live.requests ?? 0}</b> requests · ` +
      `<b>${live.errors ?? 0}</b> errors · p50 <b>${fmt(live.p50_ms, 1)}</b> ms · ` +
      `p99 <b>${fmt(live.p99_ms, 1)}</b> ms · <b id="users-now">${live.active_users ?? 0}</b> users` +
      (live.arrival_rate ? ` · ${fmt(live.arrival_rate, 2)} sessions/s` : "");
    draw();
  } catch (error) {
    say(String(error.message || error), true);
  }
}

function draw() {
  chart("chart-rps", [{ key: "rps", color: "#1565c0" }]);
  chart("chart-latency", [
    { key: "p50_ms", color: "#2e7d32" },
    { key: "p95_ms", color: "#f9a825" },
    { key: "p99_ms", color: "#c62828" },
  ]);
  chart("chart-errors", [{ key: "errors", color: "#c62828" }]);
  chart("chart-users", [{ key: "users", color: "#6a1b9a" }]);
}

// One line chart on a canvas: x = seconds since the start, y from 0 to the largest value shown.
function chart(id, lines) {
  const canvas = document.getElementById(id);
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  canvas.dataset.points = String(points.length);
  const left = 48, right = 8, top = 8, bottom = 20;
  let ymax = 0;
  for (const p of points) for (const l of lines) if (p[l.key] != null) ymax = Math.max(ymax, p[l.key]);
  ymax = ymax > 0 ? ymax * 1.1 : 1;
  const t0 = points.length ? points[0].t : 0;
  const t1 = points.length ? Math.max(points[points.length - 1].t, t0 + 1) : 1;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
  const y = (v) => top + (1 - v / ymax) * (height - top - bottom);
  ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#666"; ctx.font = "11px system-ui, sans-serif";
  ctx.beginPath(); ctx.moveTo(left, top); ctx.lineTo(left, height - bottom); ctx.lineTo(width - right, height - bottom); ctx.stroke();
  ctx.fillText(ymax.toPrecision(3), 2, top + 10);
  ctx.fillText("0", 2, height - bottom);
  ctx.fillText(`${t0.toFixed(0)}s`, left, height - 4);
  ctx.fillText(`${t1.toFixed(0)}s`, width - right - 30, height - 4);
  lines.forEach((line, i) => {
    ctx.strokeStyle = line.color; ctx.lineWidth = 1.5; ctx.beginPath();
    let started = false;
    for (const p of points) {
      const v = p[line.key];
      if (v == null) { started = false; continue; }
      if (started) ctx.lineTo(x(p.t), y(v)); else { ctx.moveTo(x(p.t), y(v)); started = true; }
    }
    ctx.stroke();
    ctx.fillStyle = line.color;
    ctx.fillText(line.key.replace("_ms", ""), width - right - 40, top + 12 + 12 * i);
  });
}

async function control(verb) {
  if (!runId) return;
  const amount = Math.max(1, parseInt(document.getElementById("amount").value, 10) || 1);
  const query = verb === "stop" ? "" : `?amount=${amount}`;
  try {
    const status = await api("POST", `/loadagent/${encodeURIComponent(runId)}/${verb}${query}`);
    say(verb === "stop" ? "stopping…" : `${verb}: ${amount} → ${status.live ? status.live.active_users : "?"} users`);
    refresh();
  } catch (error) {
    say(String(error.message || error), true);
  }
}

document.getElementById("add-users").addEventListener("click", () => control("addusers"));
document.getElementById("remove-users").addEventListener("click", () => control("removeusers"));
document.getElementById("stop").addEventListener("click", () => control("stop"));
window.addEventListener("resize", draw);
refresh();
setInterval(refresh, REFRESH_MS);
