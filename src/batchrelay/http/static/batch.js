// One batch: header cards, a live chart (counts or rate), failures grouped by code and where
// they cluster, tasks (filter, export), events, notifications and alerts.
//
// The header holds <div id="batch-actions" data-batch-key="…">, empty here: a module that
// offers actions on the batch (suspend, resume) fills it; it shows only once it has content.
import {
  alertFigures, api, breakable, decodeRaw, field, figures, fill, fmtDuration, fmtInt, fmtPct,
  fmtRate, fmtTime, fromMicros, h, live, progressBar, qs, s, say, select, showText, startPage,
  stateBadge, table, tickAgo, timeAgo,
} from "./common.js";
import { lineChart } from "./chart.js";
import "./actions.js"; // suspend, resume, update and their history

const TASK_STATES = ["", "ready", "running", "succeeded", "failed", "suspended", "finished",
  "unknown"];
const CHART_EVERY_MS = 2000; // at most one chart refresh per 2 s while the batch is busy

const main = startPage();
const key = decodeURIComponent(location.pathname.replace(/^\/batches\//, ""));
const enc = encodeURIComponent(key);
const params = new URLSearchParams(location.search);
document.title = `${key} · batchrelay`;

const title = document.getElementById("title");
fill(title, "Batch ", h("code", {}, breakable(key)));
const copyMessage = h("span", { role: "status", class: "help", id: "copy-message" });
const head = h("div", { class: "page-head" }, title,
  h("div", { id: "batch-actions", class: "batch-actions", "data-batch-key": key }),
  h("div", { class: "head-tools" },
    h("button", { type: "button", class: "secondary small", id: "copy-link", onclick: copyLink },
      "Copy link"), copyMessage));
main.prepend(head);

const summary = h("section", { "aria-labelledby": "summary-h", id: "summary" },
  h("h2", { id: "summary-h", class: "visually-hidden" }, "Summary"));
const chart = section("chart", "Over time");
const codes = section("failures", "Failures");
const tasks = section("tasks", "Tasks");
const events = section("events", "Recent events");
const notes = section("notifications", "Notifications sent");
const alerts = section("alerts", "Alerts");
main.append(summary, chart, codes, tasks, events, notes, alerts);
tickAgo();

let chartMode = params.get("chart") === "rate" ? "rate" : "counts";
let lastPoints = [];
let chartTimer = null;
let failuresTimer = null;
loadBatch().then((ok) => {
  if (!ok) return;
  setUpChart();
  loadHistory();
  loadFailures();
  setUpTasks();
  loadEvents("");
  loadNotifications();
  loadAlerts();
  live({ batch_key: key }, (batch) => {
    renderBatch(batch);
    // a throttle, not a debounce: under a steady stream the chart still moves every 2 s
    chartTimer ??= setTimeout(() => { chartTimer = null; loadHistory(); loadEvents(""); },
      CHART_EVERY_MS);
    failuresTimer ??= setTimeout(() => { failuresTimer = null; loadFailures(); }, 5000);
  });
});

function section(id, heading) {
  const body = h("div", { class: "section-body" });
  const el = h("section", { id, "aria-labelledby": `${id}-h` }, h("h2", { id: `${id}-h` }, heading),
    body);
  el.body = body;
  return el;
}

async function copyLink() {
  try {
    await navigator.clipboard.writeText(location.href);
    copyMessage.textContent = "Link copied.";
  } catch {
    // no clipboard (plain HTTP, or refused): show the link to copy by hand
    showText("Link to this page", location.href);
  }
}

async function loadBatch() {
  try {
    renderBatch(await api(`/api/v1/batches/${enc}`));
    return true;
  } catch (err) {
    summary.append(h("p", { class: "message error", role: "alert" },
      err.status === 404 ? "No such batch." : `Could not load the batch: ${err.message}`));
    return false;
  }
}

function renderBatch(b) {
  const f = figures(b);
  const card = (label, value, { cls = "", valueCls = "", name } = {}) => h("div",
    { class: `card ${cls}`, "data-card": name },
    h("div", { class: "label" }, label), h("div", { class: `value ${valueCls}` }, value));
  const item = (term, value) => h("div", {}, h("dt", {}, term), h("dd", {}, value));
  const tags = Object.entries(b.tags || {}).map(([k, v]) => h("span", { class: "tag" }, `${k}=${v}`));
  fill(summary,
    h("h2", { id: "summary-h", class: "visually-hidden" }, "Summary"),
    h("div", { class: "cards-row" },
      card("State", stateBadge(b.state), { name: "state" }),
      card("Progress", progressBar(b, f), { cls: "wide", name: "progress" }),
      card("Succeeded", fmtInt(f.succeeded), { name: "succeeded" }),
      card("Failed", `${fmtInt(f.failed)} (${fmtPct(f.ratio)})`,
        { valueCls: f.failed ? "alarm" : "", name: "failed" }),
      card("Skipped", fmtInt(f.skipped), { name: "skipped" }),
      card("Throughput", fmtRate(f.rate), { name: "throughput" }),
      card("ETA", f.eta === null ? "—" : fmtDuration(f.eta), { name: "eta" }),
      card("Last event", timeAgo(b.last_received), { name: "last-event" })),
    h("dl", { class: "facts" },
      item("Kind", b.kind), item("Project", b.project ? breakable(b.project) : "—"),
      item("Source", b.source), item("Raw state", b.raw_state || "—"),
      item("Phase", b.phase || "—"), item("Created", fmtTime(b.create_time)),
      item("Updated", fmtTime(b.update_time)), item("Events", fmtInt(b.events)),
      item("Tags", tags.length ? tags : "—"), b.error ? item("Error", b.error) : null),
    h("p", {}, h("a", { href: `/alerts${qs({ batch_key: b.batch_key })}#new-silence` },
      "Silence alerts for this batch…")));
  summary.dataset.succeeded = String(f.succeeded);
  summary.dataset.failed = String(f.failed);
}

// ------------------------------------------------------------------ chart

function setUpChart() {
  const radio = (value, text) => h("label", {},
    h("input", { type: "radio", name: "chart-mode", value, checked: chartMode === value,
      onchange: () => { chartMode = value; drawChart(); } }), h("span", {}, text));
  chart.insertBefore(h("div", { class: "toolbar" },
    h("div", { class: "toggle", role: "radiogroup", "aria-label": "Chart shows" },
      radio("counts", "Counts"), radio("rate", "Rate per minute")),
    h("a", { href: `/api/v1/batches/${enc}/history?max_points=1000`, download: `${key}-history.json` },
      "Chart data (JSON)")), chart.body);
  new ResizeObserver(() => {
    if (Math.round(chart.body.clientWidth) !== drawnWidth) drawChart();
  }).observe(chart.body);
}

async function loadHistory() {
  try {
    const { points } = await api(`/api/v1/batches/${enc}/history?max_points=200`);
    lastPoints = points;
    drawChart();
  } catch (err) {
    fill(chart.body, h("p", { class: "message error" }, `Could not load the history: ${err.message}`));
  }
}

let drawnWidth = 0;

function drawChart() {
  const points = lastPoints;
  const width = Math.round(chart.body.clientWidth);
  if (!points.length) return fill(chart.body, h("p", {}, "No events in the journal."));
  drawnWidth = width;
  const times = points.map((p) => p.time);
  const ok = points.map((p) => (p.task_counts.succeeded || 0) + (p.task_counts.finished || 0));
  const failed = points.map((p) => p.task_counts.failed || 0);
  const running = points.map((p) => p.task_counts.running || 0);
  const stat = points.map((p) => (p.statistic ? p.statistic.submit_success : null));
  const series = chartMode === "rate"
    ? [{ name: "Succeeded per minute", cls: "ok", values: perMinute(times, ok) },
      { name: "Failed per minute", cls: "bad", values: perMinute(times, failed) }]
    : [{ name: "Succeeded tasks", cls: "ok", values: ok },
      { name: "Failed tasks", cls: "bad", values: failed },
      { name: "Running tasks", cls: "run", values: running },
      { name: "SubmitSuccess", cls: "stat", values: stat }];
  const heading = chartMode === "rate" ? "Tasks finished per minute" : "Task counts over time";
  const figure = lineChart(heading, times, series, { width: Math.max(300, drawnWidth) });
  figure.dataset.mode = chartMode;
  figure.dataset.points = String(points.length);
  figure.dataset.succeeded = String(ok[ok.length - 1]);
  figure.dataset.failed = String(failed[failed.length - 1]);
  fill(chart.body, figure);
}

/** Per-minute change between consecutive points (the first point has none). */
function perMinute(times, values) {
  return values.map((v, i) => {
    if (i === 0) return null;
    const minutes = (Date.parse(times[i]) - Date.parse(times[i - 1])) / 60000;
    return minutes > 0 ? Math.max(0, v - values[i - 1]) / minutes : null;
  });
}

// ------------------------------------------------------------------ failures

async function loadFailures() {
  try {
    renderFailures(await api(`/api/v1/batches/${enc}/failures`));
  } catch (err) {
    fill(codes.body, h("p", { class: "message error" }, `Could not group failures: ${err.message}`));
  }
}

function renderFailures(data) {
  if (!data.failed) return fill(codes.body, h("p", {}, "No failed tasks."));
  const [t, body] = table(`${fmtInt(data.failed)} failed tasks by error code`,
    ["Code", "Tasks", "Share", "First object paths", ""], { id: "code-table" });
  fill(body, data.codes.map((c) => h("tr", { "data-code": c.code },
    h("th", { scope: "row" }, h("code", {}, c.code || "(none)")),
    h("td", { class: "num" }, fmtInt(c.tasks)),
    h("td", {}, shareBar(c.share, `${c.code || "(none)"}: ${fmtPct(c.share)} of failures`)),
    h("td", { class: "examples-cell" }, h("ul", { class: "examples" },
      c.examples.map((e) => h("li", {}, breakable(e.object_path || e.task_id))))),
    h("td", {}, h("a", { href: taskLink({ status: "failed", code: c.code }),
      onclick: (e) => { e.preventDefault(); filterTasks({ status: "failed", code: c.code }); },
      "aria-label": `Show the tasks failed with ${c.code || "no code"}` }, "Show tasks")))));
  const cl = data.clusters;
  const note = cl.exact ? `from all ${fmtInt(cl.sampled)} failures`
    : `estimated from a sample of ${fmtInt(cl.sampled)} failures`;
  const list = (items, name, label) => h("div", {},
    h("h3", {}, label),
    items.length ? h("ol", {}, items.map((it) => h("li", {},
      h("a", { href: taskLink({ status: "failed", search: it[name] }),
        onclick: (e) => { e.preventDefault(); filterTasks({ status: "failed", search: it[name] }); } },
      breakable(it[name])),
      h("span", { class: "progress-text" }, `${fmtInt(it.tasks)} · ${fmtPct(it.share)}`))))
      : h("p", { class: "help" }, "No cluster holds a tenth of the failures."));
  fill(codes.body, h("div", { class: "scroll" }, t),
    h("h3", {}, "Where failures cluster ", h("span", { class: "help" }, `(${note})`)),
    h("div", { class: "clusters", id: "clusters" },
      list(cl.prefixes, "prefix", "Prefixes"), list(cl.extensions, "extension", "File types")));
}

function shareBar(share, label) {
  const bar = s("svg", { class: "bar", viewBox: "0 0 100 10", preserveAspectRatio: "none",
    role: "img", "aria-label": label },
  s("rect", { class: "seg-bad", x: 0, y: 0, width: (share * 100).toFixed(2), height: 10 }));
  return h("div", { class: "share" }, bar, h("span", { class: "progress-text" }, fmtPct(share)));
}

// ------------------------------------------------------------------ tasks

const taskState = {
  search: params.get("search") || "", status: params.get("status") || "",
  code: params.get("code"), tokens: [""], next: "",
};
let taskBody, taskPager, taskMessage, taskForm, exportLinks;

/** A query string of a task filter: empty values left out, except code "" (no code). */
function filterQuery(filter) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(filter)) {
    if (value !== undefined && value !== null && (value !== "" || name === "code")) {
      q.set(name, String(value));
    }
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

function taskLink(filter) {
  return `${location.pathname}${filterQuery(filter)}#tasks`;
}

function taskFilter() {
  const filter = { search: taskState.search, status: taskState.status };
  return taskState.code === null ? filter : { ...filter, code: taskState.code };
}

/** The task filter in the query string too, so the link (and "Copy link") says what is shown. */
function filterTasks({ search = "", status = "", code = null }) {
  Object.assign(taskState, { search, status, code, tokens: [""] });
  taskForm.elements.search.value = search;
  taskForm.elements.status.value = status;
  taskForm.elements.code.value = code ?? "";
  history.replaceState(null, "", taskLink(taskFilter()));
  loadTasks();
  tasks.scrollIntoView({ block: "start" });
}

function setUpTasks() {
  const search = h("input", { type: "search", name: "search", id: "task-search",
    value: taskState.search, placeholder: "part of an object path or task id" });
  const status = select("status", TASK_STATES.map((st) => [st, st || "any"]), taskState.status);
  const code = h("input", { name: "code", id: "task-code", value: taskState.code ?? "",
    placeholder: "exact error code" });
  taskForm = h("form", { class: "filters", role: "search", "aria-label": "Search tasks" },
    field("Object path", search)[0], field("Status", status)[0], field("Error code", code)[0],
    h("button", { type: "submit" }, "Search"));
  let debounce = null;
  const apply = () => filterTasks({ search: search.value.trim(), status: status.value,
    code: code.value.trim() || null });
  taskForm.addEventListener("submit", (e) => { e.preventDefault(); apply(); });
  search.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(apply, 250); });
  status.addEventListener("change", apply);
  const [t, body] = table("Tasks of this batch, newest status first",
    ["Task", "Object path", "Status", "Code", "Message", "Status time"], { id: "task-table" });
  t.classList.add("cards");
  taskBody = body;
  taskPager = h("nav", { class: "pager", "aria-label": "Task pages" });
  taskMessage = h("p", { role: "status", class: "message" });
  exportLinks = h("p", { class: "export", id: "task-export" });
  fill(tasks.body, taskForm, exportLinks, taskMessage, h("div", { class: "scroll" }, t), taskPager);
  loadTasks();
}

function renderExportLinks() {
  const query = (format) => `/api/v1/batches/${enc}/tasks/export${filterQuery({ ...taskFilter(),
    format })}`;
  fill(exportLinks, "Export every matching task: ",
    h("a", { href: query("csv"), download: "", "data-format": "csv" }, "CSV"),
    h("a", { href: query("json"), download: "", "data-format": "json" }, "JSON"));
}

async function loadTasks() {
  renderExportLinks();
  const token = taskState.tokens[taskState.tokens.length - 1];
  const query = filterQuery({ ...taskFilter(), max_results: 50, next_token: token || null });
  try {
    const page = await api(`/api/v1/batches/${enc}/tasks${query}`);
    taskState.next = page.next_token;
    fill(taskBody, page.tasks.map(taskRow));
    say(taskMessage, page.tasks.length ? "" : "No tasks match.");
  } catch (err) {
    say(taskMessage, `Could not list tasks: ${err.message}`, "error");
  }
  fill(taskPager,
    h("button", { type: "button", class: "secondary", disabled: taskState.tokens.length < 2,
      onclick: () => { taskState.tokens.pop(); loadTasks(); } }, "← Previous"),
    h("span", {}, `Page ${taskState.tokens.length}`),
    h("button", { type: "button", class: "secondary", disabled: !taskState.next,
      onclick: () => { taskState.tokens.push(taskState.next); loadTasks(); } }, "Next →"));
}

function taskRow(t) {
  const cell = (label, value, cls) => h("td", { "data-label": label, "data-col": label.toLowerCase(),
    class: cls }, value);
  return h("tr", { "data-task-id": t.task_id, "data-status": t.status,
    class: t.status === "failed" ? "task-failed" : undefined },
  h("th", { scope: "row" }, h("code", {}, breakable(t.task_id))),
  cell("Object path", t.object_path ? breakable(t.object_path) : "—", "path"),
  cell("Status", stateBadge(t.status)),
  cell("Code", t.code ? h("code", {}, t.code) : ""), cell("Message", t.message, "msg"),
  cell("Status time", fmtTime(t.status_time)));
}

// ------------------------------------------------------------------ events

let eventsOlder = "";

async function loadEvents(token) {
  try {
    const page = await api(`/api/v1/batches/${enc}/events${qs({ max_results: 25, next_token: token })}`);
    const [t, body] = table("Journaled events of this batch, newest first",
      ["Time", "Type", "Task", "Status", "Code", "Received", "Payload"], { id: "event-table" });
    fill(body, page.events.map((e) => h("tr", {},
      h("td", {}, fmtTime(e.time)), h("td", {}, e.type), h("td", {}, e.task_id || "—"),
      h("td", {}, e.status), h("td", {}, e.code || ""), h("td", {}, fmtTime(e.received_at)),
      h("td", {}, h("button", { type: "button", class: "secondary small",
        "aria-label": `View raw payload of event ${e.event_id}`,
        onclick: () => showText(`Event ${e.event_id} (${e.size} bytes, ${e.ingress})`,
          decodeRaw(e.raw_base64)) }, "View raw")))));
    eventsOlder = page.next_token;
    const nav = h("nav", { class: "pager", "aria-label": "Event pages" },
      token ? h("button", { type: "button", class: "secondary", onclick: () => loadEvents("") },
        "Newest") : null,
      h("button", { type: "button", class: "secondary", disabled: !eventsOlder,
        onclick: () => loadEvents(eventsOlder) }, "Older →"));
    fill(events.body, h("div", { class: "scroll" }, t), nav);
  } catch (err) {
    fill(events.body, h("p", { class: "message error" }, `Could not list events: ${err.message}`));
  }
}

// ------------------------------------------------------------------ notifications, alerts

async function loadNotifications() {
  try {
    const page = await api(`/api/v1/deliveries${qs({ batch_key: key, max_results: 50 })}`);
    if (!page.deliveries.length) return fill(notes.body, h("p", {}, "No notifications for this batch."));
    const [t, body] = table("Deliveries for this batch, newest first",
      ["Delivery", "Receiver", "Route", "State", "Events", "Attempts", "Last reason", "Updated"]);
    fill(body, page.deliveries.map((d) => h("tr", {},
      h("th", { scope: "row" }, h("code", {}, d.id)), h("td", {}, d.receiver), h("td", {}, d.route),
      h("td", {}, stateBadge(d.state)), h("td", { class: "num" }, fmtInt(d.events)),
      h("td", { class: "num" }, fmtInt(d.attempts)),
      h("td", { title: d.last_detail || "" }, d.last_reason || "—"),
      h("td", {}, fmtTime(fromMicros(d.updated_at))))));
    fill(notes.body, h("div", { class: "scroll" }, t));
  } catch (err) {
    fill(notes.body, h("p", { class: "message error" }, `Could not list deliveries: ${err.message}`));
  }
}

async function loadAlerts() {
  try {
    const data = await api(`/api/v1/alerts${qs({ batch_key: key })}`);
    if (!data.alerts.length) return fill(alerts.body, h("p", {}, "No alerts for this batch."));
    const [t, body] = table("Alerts for this batch", ["Rule", "Status", "Since", "Figures", "Summary"]);
    fill(body, data.alerts.map((a) => h("tr", {},
      h("th", { scope: "row" }, a.rule), h("td", {}, stateBadge(a.status),
        a.silenced_by && a.silenced_by.length ? " silenced" : "", a.inhibited ? " inhibited" : ""),
      h("td", {}, fmtTime(a.active_since)), h("td", {}, alertFigures(a.value)),
      h("td", {}, a.summary || ""))));
    fill(alerts.body, h("div", { class: "scroll" }, t));
  } catch (err) {
    fill(alerts.body, h("p", { class: "message" }, err.status === 404
      ? "This daemon has no alerts API." : `Could not list alerts: ${err.message}`));
  }
}
