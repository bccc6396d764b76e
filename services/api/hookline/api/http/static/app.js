// Hookline's dashboard. Plain JavaScript, no dependencies: it signs in with a key kept in
// this tab's sessionStorage, calls the API's JSON endpoints and draws the charts as SVG.
// Every value from the API is put on the page as text (textContent), never as HTML.
"use strict";

const STORE = "hookline.credential";
const MAX_SUBSCRIPTIONS = 50; // per-subscription calls are made for at most this many
const ATTEMPTS_PER_SUBSCRIPTION = 200;
const REFRESH_MS = 10000;
const SVG = "http://www.w3.org/2000/svg";

const state = {
  credential: null,
  role: null,
  subscriptions: [],
  attempts: [], // normalized, every loaded subscription
  dead: [],
  attemptsMissing: false,
  selected: null, // a subscription id, or null for all
  timer: null,
};

const $ = (id) => document.getElementById(id);

// --- the API --------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.credential}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const rsp = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await rsp.json(); } catch (_) { data = null; }
  return { status: rsp.status, body: data };
}

// An older API without the endpoint answers 404 "http_error" (no route) or 405.
function routeMissing(answer) {
  return answer.status === 405 ||
    (answer.status === 404 && !(answer.body && answer.body.code === "not_found"));
}

function values(answer) {
  if (!answer.body) return [];
  if (Array.isArray(answer.body.values)) return answer.body.values;
  if (Array.isArray(answer.body.value)) return answer.body.value;
  return [];
}

// --- normalizing what the endpoints answer -------------------------------------------

function first(obj, ...names) {
  for (const n of names) if (obj[n] !== undefined && obj[n] !== null) return obj[n];
  return null;
}

function timeOf(raw) {
  if (raw === null) return null;
  if (typeof raw === "number") return raw > 1e12 ? raw : raw * 1000;
  const t = Date.parse(raw);
  return Number.isNaN(t) ? null : t;
}

function normAttempt(v, subscriptionId) {
  const code = first(v, "statusCode", "httpStatus", "responseStatus") ??
    (typeof v.status === "number" ? v.status : null);
  const outcome = String(first(v, "outcome", "result") ?? (code >= 200 && code < 300 ? "SUCCESS" : "RETRY")).toUpperCase();
  return {
    subscription: first(v, "subscriptionId") ?? subscriptionId,
    at: timeOf(first(v, "at", "attemptedAt", "createdAt", "timestamp")),
    outcome,
    ok: outcome === "SUCCESS",
    code,
    latency: first(v, "latencyMs", "latency_ms", "durationMs"),
    attempt: first(v, "attempt", "attemptNumber"),
    reason: first(v, "reason", "error") ?? "",
    event: first(v, "event") ?? "",
    delivery: first(v, "deliveryId", "webhookId") ?? "",
  };
}

function normDead(v, subscriptionId) {
  return {
    subscription: first(v, "subscriptionId") ?? subscriptionId,
    id: first(v, "id"),
    delivery: first(v, "deliveryId") ?? "",
    event: first(v, "event") ?? "",
    attempts: first(v, "attempts", "attempt"),
    error: first(v, "lastError", "reason") ?? "",
    at: timeOf(first(v, "deadAt", "at", "createdAt")),
    redelivered: Boolean(first(v, "redeliveredAt", "redelivered")),
  };
}

// --- numbers --------------------------------------------------------------------------

function quantile(sorted, q) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function summary(attempts) {
  const lat = attempts.map((a) => a.latency).filter((x) => typeof x === "number").sort((a, b) => a - b);
  const ok = attempts.filter((a) => a.ok).length;
  return {
    n: attempts.length,
    rate: attempts.length ? ok / attempts.length : null,
    p50: quantile(lat, 0.5),
    p95: quantile(lat, 0.95),
    last: attempts.reduce((m, a) => Math.max(m, a.at || 0), 0) || null,
  };
}

const STEPS = [10, 30, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400].map((s) => s * 1000);

// Attempts into at most 30 equal time buckets ending now, each with its summary.
function buckets(attempts, now) {
  const dated = attempts.filter((a) => a.at !== null);
  if (!dated.length) return [];
  const oldest = Math.min(...dated.map((a) => a.at));
  const size = STEPS.find((s) => (now - oldest) / s <= 29) || STEPS[STEPS.length - 1];
  const end = Math.ceil(now / size) * size;
  // At least 12 buckets, so that a few minutes of attempts do not fill the whole width.
  const count = Math.min(30, Math.max(12, Math.ceil((end - oldest) / size)));
  const start = end - count * size;
  const groups = Array.from({ length: count }, () => []);
  for (const a of dated) {
    const i = Math.floor((a.at - start) / size);
    if (i >= 0 && i < count) groups[i].push(a);
  }
  return groups.map((g, i) => ({ start: start + i * size, size, ...summary(g) }));
}

// --- formatting -----------------------------------------------------------------------

const pct = (r) => (r === null ? "–" : `${(r * 100).toFixed(r === 1 || r === 0 ? 0 : 1)}%`);
const ms = (x) => (x === null || x === undefined ? "–" : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`);
function clock(t) {
  if (!t) return "–";
  const d = new Date(t);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}
const rateClass = (r) => (r === null ? "" : r >= 0.99 ? "ok" : r >= 0.9 ? "warn" : "bad");
// The source API a subscription was made through (its delivery envelope); older APIs say none.
const dialectOf = (s) => s.dialect || "tripletex";
const statusClass = (s) => (s === "ACTIVE" ? "ok" : s && s.startsWith("DISABLED") ? "bad" : "warn");
const outcomeClass = (o) => (o === "SUCCESS" ? "ok" : o === "RETRY" ? "warn" : "bad");

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function badge(text, cls) {
  const td = el("td");
  td.append(el("span", text, `badge ${cls}`));
  return td;
}

function fill(tbody, rows, columns, emptyText) {
  tbody.replaceChildren();
  if (!rows.length) {
    const tr = el("tr", null, "empty");
    const td = el("td", emptyText);
    td.colSpan = columns;
    tr.append(td);
    tbody.append(tr);
    return;
  }
  for (const r of rows) tbody.append(r);
}

// --- charts (SVG) ---------------------------------------------------------------------

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const W = 560, H = 200, L = 44, R = 10, T = 10, B = 24;

function frame(yLabels) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  for (const [y, label] of yLabels) {
    root.append(svg("line", { x1: L, x2: W - R, y1: y, y2: y, class: "axis" }));
    root.append(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, label));
  }
  return root;
}

function timeLabels(root, bs) {
  const span = (W - L - R) / bs.length;
  const picks = bs.length > 2 ? [0, Math.floor(bs.length / 2), bs.length - 1] : bs.map((_, i) => i);
  for (const i of picks) {
    const t = new Date(bs[i].start);
    const label = bs[i].size >= 86400000 ? t.toLocaleDateString() : t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    root.append(svg("text", { x: L + span * (i + 0.5), y: H - 6, "text-anchor": "middle" }, label));
  }
}

function successChart(bs) {
  const y = (r) => T + (1 - r) * (H - T - B);
  const root = frame([[y(1), "100%"], [y(0.5), "50%"], [y(0), "0%"]]);
  const span = (W - L - R) / bs.length;
  bs.forEach((b, i) => {
    if (b.rate === null) return;
    const bar = svg("rect", {
      x: L + span * i + span * 0.15, width: Math.max(1, span * 0.7),
      y: y(b.rate), height: Math.max(1, y(0) - y(b.rate)), class: `bar ${rateClass(b.rate)}`,
      "data-rate": b.rate.toFixed(4), "data-n": b.n,
    });
    bar.append(svg("title", {}, `${pct(b.rate)} of ${b.n} attempts`));
    root.append(bar);
  });
  timeLabels(root, bs);
  return root;
}

function latencyChart(bs) {
  const top = Math.max(1, ...bs.map((b) => b.p95 || 0));
  const nice = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000].find((n) => n >= top) || top;
  const y = (v) => T + (1 - v / nice) * (H - T - B);
  const root = frame([[y(nice), ms(nice)], [y(nice / 2), ms(nice / 2)], [y(0), "0"]]);
  const span = (W - L - R) / bs.length;
  for (const key of ["p95", "p50"]) {
    const pts = bs.map((b, i) => [L + span * (i + 0.5), b[key]]).filter(([, v]) => v !== null);
    if (pts.length > 1) {
      root.append(svg("polyline", { points: pts.map(([x, v]) => `${x},${y(v)}`).join(" "), class: key }));
    }
    for (const [x, v] of pts) {
      const dot = svg("circle", { cx: x, cy: y(v), r: 3, class: key, "data-ms": v });
      dot.append(svg("title", {}, `${key} ${ms(v)}`));
      root.append(dot);
    }
  }
  timeLabels(root, bs);
  return root;
}

function drawCharts(attempts) {
  const bs = buckets(attempts, Date.now());
  for (const [id, draw] of [["chart-success", successChart], ["chart-latency", latencyChart]]) {
    const box = $(id);
    box.replaceChildren();
    if (!bs.length) {
      box.append(el("div", state.attemptsMissing ? "The attempt log is not available on this API." : "No attempts yet.", "empty"));
    } else {
      box.append(draw(bs));
    }
  }
}

// --- the tenant's view ----------------------------------------------------------------

async function loadTenant() {
  const subs = await api("GET", `/v2/event/subscription?count=${MAX_SUBSCRIPTIONS}`);
  if (subs.status === 401) return signOut("Your key is no longer valid.");
  state.subscriptions = values(subs);
  const ids = state.subscriptions.map((s) => s.id);
  const [attempts, dead] = await Promise.all([
    Promise.all(ids.map((id) => api("GET", `/v2/event/subscription/${id}/attempts?count=${ATTEMPTS_PER_SUBSCRIPTION}`))),
    Promise.all(ids.map((id) => api("GET", `/v2/event/subscription/${id}/deadletters?count=100&redelivered=false`))),
  ]);
  state.attemptsMissing = attempts.some(routeMissing);
  state.attempts = attempts.flatMap((a, i) => (a.status === 200 ? values(a).map((v) => normAttempt(v, ids[i])) : []));
  const deadMissing = dead.some(routeMissing);
  state.dead = dead.flatMap((a, i) => (a.status === 200 ? values(a).map((v) => normDead(v, ids[i])) : []))
    .filter((d) => !d.redelivered);
  const missing = [state.attemptsMissing && "the attempt log", deadMissing && "dead letters"].filter(Boolean);
  notice(missing.length ? `This API does not offer ${missing.join(" or ")} yet.` : "");
  renderTenant();
}

function renderTenant() {
  const subs = state.subscriptions;
  const all = summary(state.attempts);
  $("stat-subs").textContent = subs.length;
  $("stat-active").textContent = subs.filter((s) => s.status === "ACTIVE").length;
  $("stat-rate").textContent = pct(all.rate);
  $("stat-latency").textContent = ms(all.p50);
  $("stat-dead").textContent = state.dead.length;

  const rows = subs.map((s) => {
    const mine = summary(state.attempts.filter((a) => a.subscription === s.id));
    const tr = el("tr", null, `clickable${state.selected === s.id ? " selected" : ""}`);
    tr.dataset.id = s.id;
    tr.append(el("td", s.id), badge(s.status, statusClass(s.status)),
      el("td", (s.events || [s.event]).join(", ")), el("td", s.targetUrl, "url"), el("td", dialectOf(s)),
      badge(pct(mine.rate), rateClass(mine.rate)), el("td", ms(mine.p50)), el("td", mine.n),
      el("td", clock(mine.last)));
    tr.addEventListener("click", () => select(s.id));
    return tr;
  });
  fill($("subscriptions").tBodies[0], rows, 9, "No subscriptions yet: create one with the API or `hookline subscriptions create`.");

  const chosen = state.selected === null ? state.attempts : state.attempts.filter((a) => a.subscription === state.selected);
  $("chart-scope").textContent = state.selected === null ? "all subscriptions" : `subscription ${state.selected}`;
  $("show-all").hidden = state.selected === null;
  drawCharts(chosen);
  renderAttempts(chosen);
  renderDead();
}

function renderAttempts(attempts) {
  const recent = [...attempts].sort((a, b) => (b.at || 0) - (a.at || 0)).slice(0, 25);
  const rows = recent.map((a) => {
    const tr = el("tr");
    const reason = el("td", a.reason, "reason");
    reason.title = a.reason;
    tr.append(el("td", clock(a.at)), el("td", a.subscription), el("td", a.event),
      el("td", a.attempt), badge(a.outcome.toLowerCase(), outcomeClass(a.outcome)),
      el("td", a.code ?? "–"), el("td", ms(a.latency)), reason);
    return tr;
  });
  const empty = state.attemptsMissing ? "The attempt log is not available on this API." : "No attempts yet.";
  fill($("attempts").tBodies[0], rows, 8, empty);
}

function renderDead() {
  const dead = state.selected === null ? state.dead : state.dead.filter((d) => d.subscription === state.selected);
  const rows = dead.map((d) => {
    const tr = el("tr");
    const button = el("button", "Redeliver", "small");
    button.type = "button";
    button.addEventListener("click", () => redeliver(d.subscription, [d], button));
    button.title = `Send delivery ${d.delivery} again, with a fresh retry schedule`;
    const action = el("td");
    action.append(button);
    tr.append(el("td", clock(d.at)), el("td", d.subscription), el("td", d.event),
      el("td", d.delivery, "mono"), el("td", d.attempts ?? "–"), el("td", d.error, "reason"), action);
    return tr;
  });
  fill($("deadletters").tBodies[0], rows, 7, "No dead letters.");
  $("redeliver-all").hidden = state.selected === null || !dead.length;
}

async function redeliver(subscription, letters, button) {
  if (button) button.disabled = true;
  // One dead letter by its id, or every one of the subscription not redelivered yet.
  const body = letters === null ? { all: true } : { id: letters[0].id };
  const answer = await api("POST", `/v2/event/subscription/${subscription}/deadletters/redeliver`, body);
  if (answer.status >= 200 && answer.status < 300) {
    const value = (answer.body && answer.body.value) || {};
    const n = value.redelivered ?? (letters ? letters.length : 0);
    notice(`Redelivering ${n} dead letter${n === 1 ? "" : "s"} of subscription ${subscription}.`);
    const gone = new Set(value.ids || (letters || []).map((d) => d.id));
    state.dead = state.dead.filter((d) => !(d.subscription === subscription && (letters === null || gone.has(d.id))));
    renderTenant();
  } else {
    notice(`Redelivery failed: ${(answer.body && answer.body.message) || answer.status}`);
    if (button) button.disabled = false;
  }
}

function select(id) {
  state.selected = id;
  renderTenant();
}

// --- the admin's view -----------------------------------------------------------------

async function loadAdmin() {
  const answer = await api("GET", "/dashboard/api/tenants");
  if (answer.status === 401) return signOut("The admin token is no longer valid.");
  const rows = values(answer).map((t) => {
    const tr = el("tr", null, "clickable");
    tr.dataset.id = t.id;
    tr.append(el("td", t.id), el("td", t.name), el("td", t.subscriptions), el("td", t.active),
      el("td", t.keys), el("td", clock(timeOf(t.createdAt))));
    tr.addEventListener("click", () => loadTenantSubscriptions(t));
    return tr;
  });
  fill($("tenants").tBodies[0], rows, 6, "No tenants yet.");
  await loadQuarantine();
}

const VALUE_CHARS = 120;

async function loadQuarantine() {
  const answer = await api("GET", "/v2/admin/quarantine?count=100");
  if (routeMissing(answer)) return;
  const rows = values(answer).map((q) => {
    const tr = el("tr");
    tr.dataset.id = q.id;
    const shown = q.value !== null ? JSON.stringify(q.value) : (q.valueText ?? "");
    const value = el("td", shown.length > VALUE_CHARS ? `${shown.slice(0, VALUE_CHARS)}…` : shown, "mono");
    value.title = `${q.valueBytes} bytes${q.truncated ? ", cut when quarantined" : ""}`;
    const action = el("td");
    if (q.redrivenAt === null) {
      const button = el("button", "Re-drive", "small");
      button.type = "button";
      button.title = `Put it back on ${q.topic}`;
      button.addEventListener("click", () => redrive(q, button));
      action.append(button);
    } else {
      action.append(el("span", `re-driven ${clock(timeOf(q.redrivenAt))}`));
    }
    tr.append(el("td", q.id), el("td", clock(timeOf(q.quarantinedAt))), el("td", q.service),
      el("td", `${q.topic} [${q.partition}] @${q.offset}`, "mono"), el("td", q.tenant ?? "–"),
      el("td", q.reason, "reason"), value, action);
    return tr;
  });
  fill($("quarantine").tBodies[0], rows, 8, "Nothing in the quarantine.");
}

async function redrive(entry, button) {
  button.disabled = true;
  const answer = await api("POST", `/v2/admin/quarantine/${entry.id}/redrive`);
  if (answer.status >= 200 && answer.status < 300) {
    notice(`Re-drove quarantined record ${entry.id} to ${entry.topic}.`);
    await loadQuarantine();
  } else {
    notice(`Re-drive failed: ${(answer.body && answer.body.message) || answer.status}`);
    button.disabled = false;
  }
}

async function loadTenantSubscriptions(tenant) {
  const answer = await api("GET", `/dashboard/api/tenants/${tenant.id}/subscriptions`);
  $("tenant-subs-name").textContent = `${tenant.name} (${tenant.id})`;
  const rows = values(answer).map((s) => {
    const tr = el("tr");
    tr.append(el("td", s.id), badge(s.status, statusClass(s.status)), el("td", s.events.join(", ")),
      el("td", s.targetUrl, "url"), el("td", dialectOf(s)), el("td", clock(timeOf(s.updatedAt))));
    return tr;
  });
  fill($("tenant-subscriptions").tBodies[0], rows, 6, "No subscriptions.");
  $("tenant-subs-card").hidden = false;
}

// --- signing in and out ---------------------------------------------------------------

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

async function signIn(credential) {
  state.credential = credential;
  const who = await api("GET", "/dashboard/api/whoami");
  if (who.status !== 200) {
    state.credential = null;
    sessionStorage.removeItem(STORE);
    $("signin-error").textContent = who.status === 401
      ? "That is not a valid API key or admin token."
      : `The API answered ${who.status}.`;
    showSignIn();
    return;
  }
  sessionStorage.setItem(STORE, credential);
  const me = who.body.value;
  state.role = me.role;
  $("who").textContent = me.role === "admin" ? "admin" : `tenant ${me.tenant.name} (${me.tenant.id})`;
  $("signin").hidden = true;
  for (const id of ["signout", "reload", "refresh-box"]) $(id).hidden = false;
  $("tenant-view").hidden = me.role !== "tenant";
  $("admin-view").hidden = me.role !== "admin";
  await refresh();
  schedule();
}

async function refresh() {
  try {
    if (state.role === "tenant") await loadTenant();
    else if (state.role === "admin") await loadAdmin();
    document.body.dataset.loaded = String(Date.now());
  } catch (err) {
    notice(`Could not reach the API: ${err}`);
  }
}

function schedule() {
  clearInterval(state.timer);
  state.timer = setInterval(() => { if ($("auto").checked) refresh(); }, REFRESH_MS);
}

function showSignIn() {
  $("signin").hidden = false;
  $("tenant-view").hidden = true;
  $("admin-view").hidden = true;
  for (const id of ["signout", "reload", "refresh-box"]) $(id).hidden = true;
  $("who").textContent = "";
  $("credential").focus();
}

function signOut(message) {
  clearInterval(state.timer);
  sessionStorage.removeItem(STORE);
  Object.assign(state, { credential: null, role: null, subscriptions: [], attempts: [], dead: [], selected: null });
  notice("");
  $("signin-error").textContent = message || "";
  showSignIn();
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("credential").value.trim());
    $("credential").value = "";
  });
  $("signout").addEventListener("click", () => signOut(""));
  $("reload").addEventListener("click", () => refresh());
  $("show-all").addEventListener("click", () => select(null));
  $("redeliver-all").addEventListener("click", (e) => redeliver(state.selected, null, e.target));
  const saved = sessionStorage.getItem(STORE);
  if (saved) signIn(saved); else showSignIn();
});
