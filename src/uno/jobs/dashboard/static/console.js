"use strict";
// The uno-jobs operator console: one script, no build step, no dependencies.
// Every figure comes from the REST API with the pasted token; the view and its
// filters live in the URL (?view=jobs&status=failed...), so links can be shared
// and the back button works. Nodes are built with textContent only (no HTML from
// data). Actions appear only when the token's scopes allow them; the API checks
// every action anyway and its `detail` is shown when one fails.

const BASE = location.pathname.replace(/\/dashboard\/?$/, "");
const API = BASE + "/api/v1";
const STATUSES = ["pending", "reserved", "running", "completed", "failed", "retrying",
  "cancelled", "timeout"];
const PRIORITIES = ["critical", "high", "normal", "low"];
const ORDER_FIELDS = ["created_at", "scheduled_at", "started_at", "completed_at", "priority",
  "status", "task_name", "queue_name", "retry_count", "id"];
const RETRYABLE = ["failed", "timeout", "cancelled"];
const CANCELLABLE = ["pending", "reserved", "retrying", "running"];
const POLL_MS = 5000;

const state = {
  token: "",
  session: null,          // {auth, subject, scopes}
  hasWorkers: false,      // GET /workers answers (the job-control feature is merged)
  refresh: null,          // the current view's refresh function
  generation: 0,          // bumps on every navigation: stale answers are dropped
};

// -- DOM helpers ---------------------------------------------------------------
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

function badge(status) {
  return h("span", { class: "badge s-" + status, text: status, "data-status": status });
}

function relative(iso) {
  if (!iso) return h("span", { class: "muted", text: "–" });
  const when = new Date(iso);
  const seconds = Math.round((when.getTime() - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  let text;
  if (abs < 45) text = seconds >= 0 ? "in a few s" : "just now";
  else {
    const units = [["d", 86400], ["h", 3600], ["min", 60]];
    const [unit, size] = units.find(([, size]) => abs >= size) || ["min", 60];
    const n = Math.round(abs / size);
    text = seconds >= 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
  }
  return h("time", { datetime: iso, title: when.toISOString() + " (" + when.toString() + ")",
    text });
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1) return (value * 1000).toFixed(0) + " ms";
  if (value < 120) return value.toFixed(value < 10 ? 2 : 0) + " s";
  if (value < 7200) return (value / 60).toFixed(0) + " min";
  return (value / 3600).toFixed(1) + " h";
}

function percent(fraction) {
  return fraction === null || fraction === undefined ? "–" : (fraction * 100).toFixed(1) + " %";
}

function jsonBlock(value, label) {
  const text = JSON.stringify(value, null, 2);
  const pre = h("pre", { class: "mono", text });
  if (text.length <= 400 && text.split("\n").length <= 12) return pre;
  return h("details", {}, h("summary", { text: `${label}: ${text.length} characters, show` }), pre);
}

function table(headers, rows, narrowHidden = []) {
  const head = h("tr", {}, headers.map((name, i) =>
    h("th", { class: narrowHidden.includes(i) ? "hide-narrow" : null, text: name })));
  const body = rows.map((cells) => h("tr", {}, cells.map((cell, i) =>
    h("td", { class: narrowHidden.includes(i) ? "hide-narrow" : null }, cell))));
  return h("div", { class: "scroll" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

// -- messages and confirmation ---------------------------------------------------
function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = "message" + (kind === "info" ? " info" : "");
  box.hidden = !text;
}

function confirmAction(text, okLabel = "Confirm") {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// -- the API ---------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

async function api(path, options = {}) {
  const headers = { "Accept": "application/json" };
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    let detail = body.detail;
    if (typeof detail !== "string") detail = detail ? JSON.stringify(detail) : response.statusText;
    throw new ApiError(response.status, detail);
  }
  return body;
}

// An action: confirmed, then sent; its failure shows the API's detail.
async function act(question, okLabel, run, done) {
  if (question && !(await confirmAction(question, okLabel))) return;
  try {
    const result = await run();
    say(typeof done === "function" ? done(result) : done, "info");
    if (state.refresh) await state.refresh();
  } catch (error) {
    say(error instanceof ApiError ? error.detail : String(error));
  }
}

const has = (scope) => !state.session || !state.session.auth ||
  state.session.scopes.includes(scope) || state.session.scopes.includes("jobs:admin");
const canWrite = () => has("jobs:write");
const canAdmin = () => has("jobs:admin");

// -- routing -----------------------------------------------------------------------
function params() { return new URLSearchParams(location.search); }

function go(search, replace = false) {
  const url = location.pathname + (search.toString() ? "?" + search.toString() : "");
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  render();
}

function link(search, text, attrs = {}) {
  const query = search instanceof URLSearchParams ? search : new URLSearchParams(search);
  return h("a", { href: "?" + query.toString(), "data-nav": true, ...attrs, text });
}

document.addEventListener("click", (event) => {
  const anchor = event.target.closest && event.target.closest("a[data-nav]");
  if (!anchor || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(new URLSearchParams(anchor.getAttribute("href").replace(/^\?/, "")));
});
window.addEventListener("popstate", () => render());

const VIEWS = {
  overview: renderOverview, jobs: renderJobs, job: renderJob, queues: renderQueues,
  schedules: renderSchedules, tasks: renderTasks, workers: renderWorkers,
};

async function render() {
  const generation = ++state.generation;
  const query = params();
  const view = VIEWS[query.get("view")] ? query.get("view") : "overview";
  for (const a of document.querySelectorAll("#nav a[data-view]")) {
    a.classList.toggle("active", a.dataset.view === view || (view === "job" && a.dataset.view === "jobs"));
  }
  say("");
  state.refresh = null;
  const main = $("main");
  if (!state.token) {
    main.replaceChildren(h("h1", { text: "Sign in" }), h("p", { text:
      "Paste a token above: the one uno-jobs serve printed, or one from uno-jobs token. " +
      "A jobs:read token shows everything; actions need jobs:write (queues: jobs:admin)." }));
    return;
  }
  main.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  try {
    const refresh = await VIEWS[view](main, query, () => generation !== state.generation);
    if (generation === state.generation) state.refresh = refresh || null;
    stamp();
  } catch (error) {
    if (generation !== state.generation) return;
    say(error instanceof ApiError ? error.detail : String(error));
    main.replaceChildren(h("p", { class: "muted", text: "Could not load this page." }));
  }
}

function stamp() {
  const now = new Date();
  $("updated").textContent = now.toLocaleTimeString();
  $("updated").setAttribute("datetime", now.toISOString());
}

async function poll() {
  if (!$("live").checked || document.hidden || $("confirm").open || !state.refresh) return;
  const generation = state.generation;
  try {
    await state.refresh();
    if (generation === state.generation) stamp();
  } catch (error) {
    if (generation === state.generation) say(error instanceof ApiError ? error.detail : String(error));
  }
}

// -- overview ------------------------------------------------------------------------
function throughputChart(history, since, now, minutes, keys = ["enqueued", "completed", "failed"],
  H = 200, label = "Jobs", W = 800) {
  const start = Math.floor(new Date(since).getTime() / 60000);
  const end = Math.floor(new Date(now).getTime() / 60000);
  const step = Math.max(1, Math.ceil((end - start + 1) / 240));   // at most 240 buckets
  const buckets = Math.ceil((end - start + 1) / step);
  const series = Object.fromEntries(keys.map((key) => [key, new Array(buckets).fill(0)]));
  for (const m of history) {
    const i = Math.floor((Math.floor(new Date(m.minute).getTime() / 60000) - start) / step);
    if (i < 0 || i >= buckets) continue;
    for (const key of Object.keys(series)) series[key][i] += m[key];
  }
  const P = 28;
  const peak = Math.max(1, ...Object.values(series).flat());
  const x = (i) => P + (buckets <= 1 ? 0 : (i * (W - 2 * P)) / (buckets - 1));
  const y = (v) => H - P - (v * (H - 2 * P)) / peak;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  const per = step === 1 ? "minute" : `${step} minutes`;
  svg.setAttribute("aria-label", `${label} per ${per} over the last ${minutes} minutes`);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  add("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, stroke: "#d0d5dd" });
  add("text", { x: 2, y: P, "font-size": 11, fill: "#667085" }, String(peak));
  add("text", { x: 2, y: H - P, "font-size": 11, fill: "#667085" }, "0");
  add("text", { x: P, y: H - 8, "font-size": 11, fill: "#667085" }, new Date(since).toLocaleTimeString());
  add("text", { x: W - P, y: H - 8, "font-size": 11, fill: "#667085", "text-anchor": "end" }, "now");
  const colours = { enqueued: "#1d4ed8", completed: "#067647", failed: "#b42318" };
  for (const [key, values] of Object.entries(series)) {
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    add("polyline", { points, fill: "none", stroke: colours[key], "stroke-width": 2,
      "data-series": key, "data-total": values.reduce((a, b) => a + b, 0) });
  }
  const legend = h("div", { class: "legend" }, Object.keys(series).map((key) =>
    h("span", {}, h("i", { class: "c-" + key }),
      `${key} ${series[key].reduce((a, b) => a + b, 0)}`)));
  return h("div", {}, svg, legend, h("p", { class: "muted", text: `per ${per}; from the store's history` }));
}

// One small chart per worker: the attempts it completed and failed per minute, from the
// counts its heartbeats keep in the store (so every API process draws the same).
function workerCharts(view, minutes) {
  if (!view.workers || !view.workers.length) {
    return h("p", { class: "muted", text: "No worker ended an attempt in this window." });
  }
  return h("div", { class: "worker-charts" }, view.workers.map((w) =>
    h("div", { class: "worker-chart", "data-worker": w.worker_id },
      h("b", { class: "mono", text: w.worker_id }),
      h("span", { class: "muted", text: ` attempts: ${w.completed} completed, ${w.failed} failed` }),
      throughputChart(w.history, view.since, view.now, minutes, ["completed", "failed"], 150,
        `Attempts of worker ${w.worker_id}`, 400))));
}

async function renderOverview(main, query) {
  const minutes = query.get("minutes") === "1440" ? 1440 : 60;
  const ranges = h("div", { class: "toolbar" },
    link({ view: "overview" }, "Last hour", { class: minutes === 60 ? "badge s-active" : "badge" }),
    link({ view: "overview", minutes: "1440" }, "Last day",
      { class: minutes === 1440 ? "badge s-active" : "badge" }));
  const cards = h("div", { class: "cards", id: "overview-cards" });
  const chart = h("div", { id: "overview-chart" });
  const queues = h("div", { id: "overview-queues" });
  const workers = h("div", { id: "overview-workers" });
  const perWorker = h("div", { id: "overview-worker-charts" });
  main.replaceChildren(h("h1", { text: "Overview" }), ranges, cards,
    h("h2", { text: "Throughput" }), chart, h("h2", { text: "Queues" }), queues, workers,
    h("h2", { text: "Throughput per worker" }), perWorker);

  async function refresh() {
    const view = await api(`/console/overview?minutes=${minutes}`);
    // stats is null while a large table's first count after a server start runs:
    // the totals say "counting" until a later refresh brings them.
    const s = view.stats || {};
    const counted = (value) => (view.stats ? value : "counting…");
    const rate = percent(view.failure_rate);
    const card = (label, value, id) => h("div", { class: "card", "data-card": id },
      h("b", { text: value }), label);
    cards.replaceChildren(
      card("total jobs", counted(s.total_jobs), "total"),
      card("waiting", counted(s.pending_jobs), "waiting"),
      card("running", counted(s.running_jobs), "running"),
      card("completed", counted(s.completed_jobs), "completed"),
      card("failed", counted(s.failed_jobs), "failed"),
      card("cancelled", counted(s.cancelled_jobs), "cancelled"),
      card(`failure rate (${minutes === 60 ? "hour" : "day"})`, rate, "failure-rate"),
      card("avg wait", counted(seconds(s.avg_wait_time)), "wait"),
      card("avg run", counted(seconds(s.avg_run_time)), "run"));
    chart.replaceChildren(throughputChart(view.history, view.since, view.now, minutes));
    perWorker.replaceChildren(workerCharts(view, minutes));
    queues.replaceChildren(view.queues.length ? table(
      ["Queue", "Waiting", "Oldest due job waited", "Enqueued", "Completed", "Failed", "Failure rate", "State"],
      view.queues.map((q) => [
        link({ view: "jobs", queue_name: q.name, status: "pending" }, q.name),
        String(q.size), seconds(q.oldest_wait_seconds), String(q.enqueued), String(q.completed),
        String(q.failed), percent(q.failure_rate), q.is_paused ? badge("paused") : badge("active")]),
      [3, 6]) : h("p", { class: "muted", text: "No queues yet." }));
    if (state.hasWorkers) {
      const list = await workerItems();
      workers.replaceChildren(h("h2", { text: "Workers" }),
        h("p", {}, `${list.length} live worker${list.length === 1 ? "" : "s"} `,
          link({ view: "workers" }, "show")));
    }
  }
  await refresh();
  return refresh;
}

// -- jobs -----------------------------------------------------------------------------
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function jobQuery(query) {
  // The List Jobs query of the console's URL (the same names, so links map 1:1).
  const out = new URLSearchParams();
  for (const key of ["queue_name", "task_name", "priority", "worker_id", "created_after",
    "created_before", "order_by", "order_dir"]) {
    if (query.get(key)) out.set(key, query.get(key));
  }
  for (const s of query.getAll("status")) out.append("status", s);
  for (const t of query.getAll("tags")) out.append("tags", t);
  out.set("limit", query.get("limit") || "25");
  out.set("offset", query.get("offset") || "0");
  return out;
}

function bulkFilter(query) {
  const filter = {};
  for (const key of ["queue_name", "task_name", "priority", "worker_id", "created_after", "created_before"]) {
    if (query.get(key)) filter[key] = query.get(key);
  }
  if (query.getAll("status").length) filter.status = query.getAll("status");
  if (query.getAll("tags").length) filter.tags = query.getAll("tags");
  return filter;
}

function filterForm(query) {
  const field = (label, input) => h("label", {}, label, input);
  const text = (name, placeholder) => h("input", { name, value: query.get(name) || "", placeholder });
  const select = (name, options, blank) => {
    const node = h("select", { name }, h("option", { value: "", text: blank }),
      options.map((o) => h("option", { value: o, text: o })));
    node.value = query.get(name) || "";
    return node;
  };
  const chosen = new Set(query.getAll("status"));
  const form = h("form", { class: "filters", id: "job-filters" },
    h("div", { class: "statuses", role: "group", "aria-label": "Status" },
      STATUSES.map((s) => h("label", {}, h("input", { type: "checkbox", name: "status", value: s,
        checked: chosen.has(s) }), badge(s)))),
    field("Queue", text("queue_name", "any")),
    field("Task", text("task_name", "any")),
    field("Priority", select("priority", PRIORITIES, "any")),
    field("Tags (all of, comma-separated)", h("input", { name: "tags", value: query.getAll("tags").join(", ") })),
    field("Worker", text("worker_id", "any")),
    field("Created after", h("input", { type: "datetime-local", name: "created_after",
      value: toLocalInput(query.get("created_after")) })),
    field("Created before", h("input", { type: "datetime-local", name: "created_before",
      value: toLocalInput(query.get("created_before")) })),
    field("Sort by", select("order_by", ORDER_FIELDS, "created_at")),
    field("Order", select("order_dir", ["desc", "asc"], "desc")),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Apply" }),
      link({ view: "jobs" }, "Reset", { class: "badge" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams({ view: "jobs" });
    for (const s of data.getAll("status")) next.append("status", s);
    for (const key of ["queue_name", "task_name", "priority", "worker_id", "order_by", "order_dir"]) {
      const value = String(data.get(key) || "").trim();
      if (value) next.set(key, value);
    }
    for (const tag of String(data.get("tags") || "").split(",").map((t) => t.trim()).filter(Boolean)) {
      next.append("tags", tag);
    }
    for (const key of ["created_after", "created_before"]) {
      const value = data.get(key);
      if (value) next.set(key, new Date(value).toISOString());
    }
    if (query.get("limit")) next.set("limit", query.get("limit"));
    go(next);
  });
  return form;
}

function idSearch() {
  const input = h("input", { name: "job_id", placeholder: "Job id", "aria-label": "Job id" });
  const form = h("form", { class: "toolbar", id: "id-search" }, input,
    h("button", { type: "submit", class: "quiet", text: "Open job" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = input.value.trim();
    if (id) go(new URLSearchParams({ view: "job", id }));
  });
  return form;
}

async function bulk(action, query) {
  const path = action === "retry" ? "/jobs/bulk-retry" : "/jobs/bulk-cancel";
  const filter = bulkFilter(query);
  try {
    const preview = await api(path, { method: "POST", body: { filter, dry_run: true } });
    if (!preview.matched) { say(`No job matching this filter can be ${action === "retry" ? "retried" : "cancelled"}.`, "info"); return; }
    const verb = action === "retry" ? "Retry" : "Cancel";
    await act(`${verb} ${preview.matched} job${preview.matched === 1 ? "" : "s"} matching this filter?`,
      `${verb} ${preview.matched}`,
      () => api(path, { method: "POST", body: action === "retry" ? { filter } :
        { filter, reason: "bulk cancel from the console" } }),
      (r) => `${verb === "Retry" ? "Retried" : "Cancelled"} ${r.changed} job${r.changed === 1 ? "" : "s"}` +
        (r.complete ? "." : "; more remain, run it again."));
  } catch (error) {
    say(error instanceof ApiError ? error.detail : String(error));
  }
}

async function renderJobs(main, query, stale) {
  const list = h("div", { id: "jobs-list" });
  const tools = h("div", { class: "toolbar" }, h("span", { class: "spacer" }));
  if (canWrite()) {
    tools.append(
      h("button", { class: "quiet", id: "bulk-retry", text: "Retry all matching…", onclick: () => bulk("retry", query) }),
      h("button", { class: "quiet", id: "bulk-cancel", text: "Cancel all matching…", onclick: () => bulk("cancel", query) }));
  }
  main.replaceChildren(h("h1", { text: "Jobs" }), idSearch(), filterForm(query), tools, list);
  const search = jobQuery(query);
  const limit = Number(search.get("limit"));
  const offset = Number(search.get("offset"));

  async function refresh() {
    const page = await api("/jobs?" + search.toString());
    if (stale()) return;
    const rows = page.items.map((j) => [
      link({ view: "job", id: j.id }, j.id, { class: "mono jobid", title: j.id }), badge(j.status),
      j.task_name, j.queue_name, relative(j.created_at), j.priority, seconds(j.duration), String(j.retry_count)]);
    const first = page.total ? offset + 1 : 0;
    const last = Math.min(offset + limit, page.total);
    const pageLink = (to, text) => {
      const next = new URLSearchParams(query);
      next.set("view", "jobs");
      next.set("offset", String(to));
      return link(next, text, { class: "badge", rel: text.startsWith("Next") ? "next" : "prev" });
    };
    list.replaceChildren(
      page.items.length ? table(["ID", "Status", "Task", "Queue", "Created", "Priority", "Duration", "Retries"],
        rows, [5, 6, 7]) : h("p", { class: "muted", text: "No job matches these filters." }),
      h("div", { class: "pager" },
        offset > 0 ? pageLink(Math.max(0, offset - limit), "‹ Previous") : null,
        h("span", { id: "page-range", text: `${first}–${last} of ${page.total}` }),
        offset + limit < page.total ? pageLink(offset + limit, "Next ›") : null));
  }
  await refresh();
  return refresh;
}

// -- one job ------------------------------------------------------------------------------
function progressView(progress) {
  if (progress === null || progress === undefined) return null;
  let fraction = null;
  if (typeof progress === "number") fraction = progress > 1 ? progress / 100 : progress;
  else if (typeof progress === "object") {
    if (typeof progress.percent === "number") fraction = progress.percent / 100;
    else if (typeof progress.current === "number" && progress.total) fraction = progress.current / progress.total;
  }
  if (fraction === null) return jsonBlock(progress, "progress");
  const pct = Math.max(0, Math.min(100, fraction * 100));
  return h("div", {}, h("div", { class: "progress", role: "progressbar", "aria-valuenow": pct.toFixed(0),
    "aria-valuemin": 0, "aria-valuemax": 100 }, h("span", { style: null, "data-pct": pct })),
    h("span", { class: "muted", text: ` ${pct.toFixed(0)} %` + (progress && progress.message ? ` — ${progress.message}` : "") }));
}

function attemptsView(attempts) {
  if (!Array.isArray(attempts) || !attempts.length) return h("p", { class: "muted", text: "No attempt recorded." });
  return h("div", {}, attempts.map((attempt, i) => {
    const a = attempt || {};
    const error = a.error || null;
    return h("div", { class: "card", "data-attempt": i + 1 },
      h("b", { text: `Attempt ${a.attempt || a.number || i + 1}` }),
      h("div", {}, a.status ? badge(a.status) : null, " ",
        a.started_at ? relative(a.started_at) : null,
        a.finished_at || a.completed_at ? [" → ", relative(a.finished_at || a.completed_at)] : null,
        a.worker_id ? ` on ${a.worker_id}` : ""),
      error ? h("div", {}, h("p", { text: `${error.type || "Error"}: ${error.message || ""}` }),
        error.traceback ? h("pre", { text: error.traceback }) : null) : null);
  }));
}

async function renderJob(main, query, stale) {
  const id = query.get("id") || "";
  const body = h("div", { id: "job-detail" });
  main.replaceChildren(h("p", {}, link({ view: "jobs" }, "‹ Jobs")), h("h1", { class: "mono", text: id }), body);

  async function refresh() {
    const job = await api("/jobs/" + encodeURIComponent(id));
    const waiting = ["pending", "retrying"].includes(job.status)
      ? await api(`/jobs/${encodeURIComponent(id)}/wait-reasons`).catch(() => null) : null;
    if (stale()) return;
    const actions = h("div", { class: "actions", id: "job-actions" });
    if (canWrite() && RETRYABLE.includes(job.status)) {
      actions.append(h("button", { id: "retry-job", text: "Retry", onclick: () => act(
        `Retry job ${job.id}? It goes back to pending.`, "Retry",
        () => api(`/jobs/${encodeURIComponent(job.id)}/retry`, { method: "POST" }), "Job sent back to pending.") }));
    }
    if (canWrite() && CANCELLABLE.includes(job.status)) {
      actions.append(h("button", { id: "cancel-job", class: "danger", text: "Cancel", onclick: () => act(
        `Cancel job ${job.id}${job.status === "running" ? " while it runs" : ""}?`, "Cancel job",
        () => api(`/jobs/${encodeURIComponent(job.id)}/cancel`, { method: "POST", body: { reason: "cancelled from the console" } }),
        "Job cancelled.") }));
    }
    const fields = [
      ["Status", badge(job.status)], ["Task", job.task_name + (job.version ? ` (version ${job.version})` : "")],
      ["Queue", link({ view: "jobs", queue_name: job.queue_name }, job.queue_name)], ["Priority", job.priority],
      ["Created", relative(job.created_at)], ["Scheduled", relative(job.scheduled_at)],
      ["Started", relative(job.started_at)], ["Completed", relative(job.completed_at)],
      ["Duration", seconds(job.duration)], ["Retries", `${job.retry_count} of ${job.max_retries} (delay ${seconds(job.retry_delay)})`],
      ["Timeout", seconds(job.timeout)],
      ["Worker", job.worker_id ? (state.hasWorkers ? link({ view: "workers" }, job.worker_id) : job.worker_id) : "–"],
      ["Tags", job.tags.length ? job.tags.map((t) => link({ view: "jobs", tags: t }, t, { class: "badge s-pending" })) : "–"],
    ];
    const parts = [actions, h("dl", { class: "fields" }, fields.map(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]))];
    if (waiting && waiting.reasons.length) {
      parts.push(h("h2", { text: "Why is this job waiting?" }),
        h("ul", { class: "reasons", id: "wait-reasons" }, waiting.reasons.map((r) =>
          h("li", { "data-code": r.code }, r.message, r.until ? [" (", relative(r.until), ")"] : null))));
    }
    if ("progress" in job && job.progress !== null) parts.push(h("h2", { text: "Progress" }), progressView(job.progress));
    if (job.error) {
      parts.push(h("h2", { text: "Error" }), h("p", { class: "mono", id: "job-error", text: `${job.error.type}: ${job.error.message}` }),
        job.error.traceback ? h("pre", { id: "traceback", text: job.error.traceback }) : null);
    }
    if ("attempts" in job) parts.push(h("h2", { text: "Attempts" }), h("div", { id: "attempts" }, attemptsView(job.attempts)));
    parts.push(h("h2", { text: "Arguments" }), h("span", { class: "muted", text: "args" }), jsonBlock(job.args, "args"),
      h("span", { class: "muted", text: "kwargs" }), jsonBlock(job.kwargs, "kwargs"),
      h("h2", { text: "Metadata" }), jsonBlock(job.metadata, "metadata"));
    if (job.result !== null && job.result !== undefined) parts.push(h("h2", { text: "Result" }), jsonBlock(job.result, "result"));
    const known = new Set(["id", "task_name", "args", "kwargs", "queue_name", "priority", "status", "scheduled_at",
      "created_at", "started_at", "completed_at", "result", "error", "retry_count", "max_retries", "retry_delay",
      "tags", "metadata", "worker_id", "timeout", "version", "duration", "attempts", "progress"]);
    const extra = Object.fromEntries(Object.entries(job).filter(([k]) => !known.has(k)));
    if (Object.keys(extra).length) parts.push(h("h2", { text: "Other fields" }), jsonBlock(extra, "fields"));
    // Keep open <details> open across refreshes.
    const open = [...body.querySelectorAll("details")].map((d) => d.open);
    body.replaceChildren(...parts.filter(Boolean));
    [...body.querySelectorAll("details")].forEach((d, i) => { if (open[i]) d.open = true; });
    for (const bar of body.querySelectorAll(".progress span")) bar.style.width = bar.dataset.pct + "%";
  }
  await refresh();
  return refresh;
}

// -- queues -----------------------------------------------------------------------------------
async function renderQueues(main) {
  const list = h("div", { id: "queues-list" });
  main.replaceChildren(h("h1", { text: "Queues" }), list);
  async function refresh() {
    const view = await api("/console/overview?minutes=60");
    list.replaceChildren(view.queues.length ? table(
      ["Queue", "Waiting", "Oldest due job waited", "Completed (1 h)", "Failed (1 h)", "Failure rate", "State", "Actions"],
      view.queues.map((q) => {
        const name = encodeURIComponent(q.name);
        const actions = h("div", { class: "actions" });
        if (canAdmin()) {
          actions.append(q.is_paused
            ? h("button", { class: "quiet", "data-action": "resume", text: "Resume", onclick: () => act(
              `Resume queue ${q.name}? Workers start taking its jobs again.`, "Resume",
              () => api(`/queues/${name}/resume`, { method: "POST" }), `Queue ${q.name} resumed.`) })
            : h("button", { class: "quiet", "data-action": "pause", text: "Pause", onclick: () => act(
              `Pause queue ${q.name}? Running jobs finish; no worker takes new ones.`, "Pause",
              () => api(`/queues/${name}/pause`, { method: "POST" }), `Queue ${q.name} paused.`) }),
          h("button", { class: "danger", "data-action": "clear", text: "Clear", onclick: () => act(
            `Delete the ${q.size} waiting job${q.size === 1 ? "" : "s"} of queue ${q.name}? This cannot be undone.`, "Clear queue",
            () => api(`/queues/${name}/clear`, { method: "POST" }), `Queue ${q.name} cleared.`) }));
        }
        return [link({ view: "jobs", queue_name: q.name }, q.name, { "data-queue": q.name }), String(q.size),
          seconds(q.oldest_wait_seconds), String(q.completed), String(q.failed), percent(q.failure_rate),
          q.is_paused ? badge("paused") : badge("active"), actions];
      }), [2, 3, 4, 5]) : h("p", { class: "muted", text: "No queues yet." }));
  }
  await refresh();
  return refresh;
}

// -- schedules ----------------------------------------------------------------------------------
function scheduleForm(tasks, schedule, onDone) {
  const s = schedule || {};
  const field = (label, input, full) => h("label", { class: full ? "full" : null }, label, input);
  const taskSelect = h("select", { name: "task_name", required: true },
    tasks.map((t) => h("option", { value: t.name, text: t.name })));
  if (s.task_name) taskSelect.value = s.task_name;
  const kind = h("select", { name: "kind" }, h("option", { value: "cron", text: "cron" }),
    h("option", { value: "interval", text: "interval" }));
  kind.value = s.interval ? "interval" : "cron";
  const interval = s.interval || {};
  const intervalSeconds = (interval.days || 0) * 86400 + (interval.hours || 0) * 3600 +
    (interval.minutes || 0) * 60 + (interval.seconds || 0);
  const priority = h("select", { name: "priority" }, PRIORITIES.map((p) => h("option", { value: p, text: p })));
  priority.value = s.priority || "normal";
  const form = h("form", { class: "form", id: "schedule-form" },
    h("b", { class: "full", text: schedule ? `Edit schedule ${s.name}` : "New schedule" }),
    field("Name", h("input", { name: "name", required: true, value: s.name || "" })),
    field("Task", taskSelect), field("Kind", kind),
    field("Cron expression", h("input", { name: "cron_expression", value: s.cron_expression || "", placeholder: "*/5 * * * *" })),
    field("Interval (seconds)", h("input", { name: "interval", type: "number", min: 1, value: intervalSeconds || "" })),
    field("Timezone", h("input", { name: "timezone", value: s.timezone || "UTC" })),
    field("Queue", h("input", { name: "queue_name", value: s.queue_name || "", placeholder: "the task's" })),
    field("Priority", priority),
    field("Args (JSON list)", h("textarea", { name: "args", text: JSON.stringify(s.args || []) }), true),
    field("Kwargs (JSON object)", h("textarea", { name: "kwargs", text: JSON.stringify(s.kwargs || {}) }), true),
    h("div", { class: "actions full" }, h("button", { type: "submit", text: schedule ? "Save" : "Create" }),
      h("button", { type: "button", class: "quiet", text: "Close", onclick: () => onDone(false) })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    let args, kwargs;
    try {
      args = JSON.parse(String(data.get("args") || "[]"));
      kwargs = JSON.parse(String(data.get("kwargs") || "{}"));
    } catch (error) { say("Args and kwargs must be JSON: " + error.message); return; }
    const body = { name: String(data.get("name")).trim(), task_name: data.get("task_name"),
      timezone: String(data.get("timezone") || "UTC").trim(), args, kwargs, priority: data.get("priority") };
    if (data.get("kind") === "cron") { body.cron_expression = String(data.get("cron_expression")).trim(); body.interval = null; }
    else { body.interval = { seconds: Number(data.get("interval")) }; body.cron_expression = null; }
    const queue = String(data.get("queue_name") || "").trim();
    if (queue) body.queue_name = queue;
    try {
      if (schedule) await api(`/schedules/${encodeURIComponent(s.id)}`, { method: "PUT", body });
      else await api("/schedules", { method: "POST", body });
      say(schedule ? "Schedule saved." : "Schedule created.", "info");
      onDone(true);
    } catch (error) { say(error instanceof ApiError ? error.detail : String(error)); }
  });
  return form;
}

async function runScheduleNow(s) {
  // One job with the schedule's definition, due now; next_run_at is unchanged.
  return api(`/schedules/${encodeURIComponent(s.id)}/run`, { method: "POST" });
}

async function renderSchedules(main) {
  const formBox = h("div", { id: "schedule-form-box" });
  const list = h("div", { id: "schedules-list" });
  const tasks = (await api("/tasks")).items;
  const tools = h("div", { class: "toolbar" });
  const closeForm = (changed) => { formBox.replaceChildren(); if (changed) refresh(); };
  if (canWrite()) {
    tools.append(h("button", { id: "new-schedule", text: "New schedule", onclick: () =>
      formBox.replaceChildren(scheduleForm(tasks, null, closeForm)) }));
  }
  main.replaceChildren(h("h1", { text: "Schedules" }), tools, formBox, list);
  async function refresh() {
    const page = await api("/schedules?limit=1000");
    list.replaceChildren(page.items.length ? table(
      ["Name", "Task", "When", "State", "Next run", "Last run", "Actions"],
      page.items.map((s) => {
        const id = encodeURIComponent(s.id);
        const actions = h("div", { class: "actions" });
        if (canWrite()) {
          actions.append(
            s.status === "active"
              ? h("button", { class: "quiet", "data-action": "pause", text: "Pause", onclick: () => act(
                `Pause schedule ${s.name}?`, "Pause", () => api(`/schedules/${id}/pause`, { method: "POST" }), "Schedule paused.") })
              : h("button", { class: "quiet", "data-action": "resume", text: "Resume", onclick: () => act(
                `Resume schedule ${s.name}?`, "Resume", () => api(`/schedules/${id}/resume`, { method: "POST" }), "Schedule resumed.") }),
            h("button", { class: "quiet", "data-action": "run", text: "Run now", onclick: () => act(
              `Enqueue one ${s.task_name} job from schedule ${s.name} now?`, "Run now", () => runScheduleNow(s),
              (job) => `Enqueued job ${job.id}.`) }),
            h("button", { class: "quiet", "data-action": "edit", text: "Edit", onclick: () =>
              formBox.replaceChildren(scheduleForm(tasks, s, closeForm)) }),
            h("button", { class: "danger", "data-action": "delete", text: "Delete", onclick: () => act(
              `Delete schedule ${s.name}? Jobs it enqueued stay.`, "Delete",
              () => api(`/schedules/${id}`, { method: "DELETE" }), "Schedule deleted.") }));
        }
        const when = s.cron_expression ? `cron ${s.cron_expression} (${s.timezone})`
          : `every ${Object.entries(s.interval || {}).filter(([, v]) => v).map(([k, v]) => `${v} ${k}`).join(" ")}`;
        return [h("span", { "data-schedule": s.name, text: s.name }), link({ view: "jobs", task_name: s.task_name }, s.task_name),
          when, badge(s.status), relative(s.next_run_at), relative(s.last_run_at), actions];
      }), [2, 5]) : h("p", { class: "muted", text: "No schedules yet." }));
  }
  await refresh();
  return refresh;
}

// -- tasks and workers --------------------------------------------------------------------------
async function renderTasks(main) {
  const page = await api("/tasks");
  main.replaceChildren(h("h1", { text: "Tasks" }), page.items.length ? table(
    ["Task", "Version", "Queue", "Timeout", "Retries", "Retry delay", "Kind", "Description"],
    page.items.map((t) => [link({ view: "jobs", task_name: t.name }, t.name), t.version, t.queue,
      seconds(t.timeout), String(t.max_retries), seconds(t.retry_delay), t.is_async ? "async" : "sync",
      h("span", { class: "wrap", text: t.description || "" })]), [5, 6])
    : h("p", { class: "muted", text: "This server knows no tasks (start it with --app)." }));
}

async function workerItems() {
  const body = await api("/workers");
  return Array.isArray(body) ? body : (body.items || []);
}

async function renderWorkers(main) {
  const list = h("div", { id: "workers-list" });
  main.replaceChildren(h("h1", { text: "Workers" }), list);
  if (!state.hasWorkers) {
    list.replaceChildren(h("p", { class: "muted", text: "This server has no workers endpoint." }));
    return null;
  }
  async function refresh() {
    const items = await workerItems();
    list.replaceChildren(items.length ? table(
      ["Worker", "Host", "PID", "Queues", "Started", "Last heartbeat", "Running jobs"],
      items.map((w) => {
        const running = w.running_jobs || w.jobs || w.job_ids || [];
        const ids = running.map((j) => (typeof j === "string" ? j : j.id)).filter(Boolean);
        return [h("span", { class: "mono", text: w.id || w.worker_id || "?" }), w.hostname || "", String(w.pid ?? ""),
          Array.isArray(w.queues) ? w.queues.join(", ") : (w.queues || "all"), relative(w.started_at),
          relative(w.heartbeat_at || w.last_heartbeat_at),
          ids.length ? h("span", {}, ids.map((id, i) => [i ? ", " : "", link({ view: "job", id }, id, { class: "mono" })]))
            : String(typeof w.running === "number" ? w.running : 0)];
      }), [1, 2, 4]) : h("p", { class: "muted", text: "No live worker." }));
  }
  await refresh();
  return refresh;
}

async function hasWorkersEndpoint() {
  // Feature detection through the OpenAPI document (no failed request, so no console
  // error, on servers without the job-control endpoints).
  try {
    const response = await fetch(BASE + "/openapi.json");
    if (!response.ok) return false;
    const doc = await response.json();
    return Object.keys(doc.paths || {}).some((path) => path.endsWith("/workers"));
  } catch (error) {
    return false;
  }
}

// -- start ---------------------------------------------------------------------------------------
async function signIn(token) {
  state.token = token;
  state.session = null;
  $("who").textContent = "";
  if (!token) { render(); return; }
  try {
    state.session = await api("/console/session");
    const who = state.session.auth ? `${state.session.subject || "token"} · ${state.session.scopes.join(" ")}` : "no auth";
    $("who").textContent = who;
  } catch (error) {
    say(error instanceof ApiError ? error.detail : String(error));
    state.session = { auth: true, subject: null, scopes: [] };
  }
  state.hasWorkers = await hasWorkersEndpoint();
  $("nav-workers").hidden = !state.hasWorkers;
  render();
}

function start() {
  const field = $("token");
  // A link such as /dashboard#token=... (printed by uno-jobs serve) signs the tab in;
  // the fragment never reaches the server and is dropped from the address bar.
  const linked = new URLSearchParams(location.hash.slice(1)).get("token");
  if (linked) {
    sessionStorage.setItem("uno-jobs-token", linked);
    history.replaceState(null, "", location.pathname + location.search);
  }
  field.value = sessionStorage.getItem("uno-jobs-token") || "";
  $("auth").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = field.value.trim();
    sessionStorage.setItem("uno-jobs-token", token);
    signIn(token);
  });
  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem("uno-jobs-token");
    field.value = "";
    signIn("");
  });
  setInterval(poll, POLL_MS);
  signIn(field.value.trim());
}

start();
