// One batch: figures, chart over time, failures by code, tasks, events, notifications, alerts.
import {
  api, decodeRaw, field, figures, fill, fmtDuration, fmtInt, fmtPct, fmtRate, fmtTime, fromMicros,
  h, live, progressBar, qs, say, select, showText, startPage, stateBadge, table, tickAgo, timeAgo,
} from "./common.js";
import { lineChart } from "./chart.js";
import "./actions.js"; // suspend, resume, update and their history

const TASK_STATES = ["", "ready", "running", "succeeded", "failed", "suspended", "finished",
  "unknown"];

const main = startPage();
const key = decodeURIComponent(location.pathname.replace(/^\/batches\//, ""));
const enc = encodeURIComponent(key);
document.title = `${key} · batchrelay`;
fill(document.getElementById("title"), "Batch ", h("code", {}, key));

const summary = h("section", { "aria-labelledby": "summary-h", id: "summary" },
  h("h2", { id: "summary-h", class: "visually-hidden" }, "Summary"));
const chart = section("chart", "Over time");
const codes = section("codes", "Failures by error code");
const tasks = section("tasks", "Tasks");
const events = section("events", "Recent events");
const notes = section("notifications", "Notifications sent");
const alerts = section("alerts", "Alerts");
main.append(summary, chart, codes, tasks, events, notes, alerts);
tickAgo();

let historyTimer = null;
loadBatch().then((ok) => {
  if (!ok) return;
  loadHistory();
  setUpTasks();
  loadEvents("");
  loadNotifications();
  loadAlerts();
  live({ batch_key: key }, (batch) => {
    renderBatch(batch);
    clearTimeout(historyTimer); // at most one chart refresh per 3 s while it is busy
    historyTimer = setTimeout(() => { loadHistory(); loadEvents(""); }, 3000);
  });
});

function section(id, title) {
  const body = h("div", { class: "section-body" });
  const el = h("section", { id, "aria-labelledby": `${id}-h` }, h("h2", { id: `${id}-h` }, title), body);
  el.body = body;
  return el;
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
  const item = (term, value) => h("div", {}, h("dt", {}, term), h("dd", {}, value));
  const tags = Object.entries(b.tags || {}).map(([k, v]) => h("span", { class: "tag" }, `${k}=${v}`));
  fill(summary,
    h("h2", { id: "summary-h", class: "visually-hidden" }, "Summary"),
    h("div", { class: "summary-bar" }, stateBadge(b.state), progressBar(b, f)),
    h("dl", { class: "facts" },
      item("Kind", b.kind), item("Project", b.project || "—"), item("Source", b.source),
      item("Raw state", b.raw_state || "—"), item("Phase", b.phase || "—"),
      item("Succeeded", fmtInt(f.succeeded)), item("Failed", fmtInt(f.failed)),
      item("Skipped", fmtInt(f.skipped)), item("Failure ratio", fmtPct(f.ratio)),
      item("Throughput", fmtRate(f.rate)), item("ETA", f.eta === null ? "—" : fmtDuration(f.eta)),
      item("Created", fmtTime(b.create_time)), item("Updated", fmtTime(b.update_time)),
      item("Last event", timeAgo(b.last_received)), item("Events", fmtInt(b.events)),
      item("Tags", tags.length ? tags : "—"), b.error ? item("Error", b.error) : null),
    h("p", {}, h("a", { href: `/alerts${qs({ batch_key: b.batch_key })}#new-silence` },
      "Silence alerts for this batch…")));
  renderCodes(b.error_codes || {});
}

function renderCodes(errorCodes) {
  const rows = Object.entries(errorCodes).sort((a, b) => b[1] - a[1]);
  if (!rows.length) return fill(codes.body, h("p", {}, "No failed tasks."));
  const top = rows[0][1];
  const [t, body] = table("Failed tasks per error code", ["Code", "Tasks", ""]);
  fill(body, rows.map(([code, n]) => h("tr", {},
    h("th", { scope: "row" }, h("code", {}, code || "(none)")), h("td", { class: "num" }, fmtInt(n)),
    h("td", { class: "wide" }, h("progress", { max: top, value: n, "aria-label": `${code}: ${n}` })))));
  fill(codes.body, t);
}

async function loadHistory() {
  try {
    const { points } = await api(`/api/v1/batches/${enc}/history?max_points=200`);
    if (!points.length) return fill(chart.body, h("p", {}, "No events in the journal."));
    const times = points.map((p) => p.time);
    const count = (name) => points.map((p) => p.task_counts[name] || 0);
    const stat = (name) => points.map((p) => (p.statistic ? p.statistic[name] : null));
    const series = [
      { name: "Succeeded tasks", cls: "ok", values: points.map((p) =>
        (p.task_counts.succeeded || 0) + (p.task_counts.finished || 0)) },
      { name: "Failed tasks", cls: "bad", values: count("failed") },
      { name: "Running tasks", cls: "run", values: count("running") },
      { name: "SubmitSuccess", cls: "stat", values: stat("submit_success") },
    ];
    fill(chart.body, lineChart("Task counts over time", times, series));
  } catch (err) {
    fill(chart.body, h("p", { class: "message error" }, `Could not load the history: ${err.message}`));
  }
}

// ------------------------------------------------------------------ tasks

const taskState = { search: "", status: "", tokens: [""], next: "" };
let taskBody, taskPager, taskMessage;

function setUpTasks() {
  const search = h("input", { type: "search", name: "search", id: "task-search",
    placeholder: "part of an object path or task id" });
  const status = select("status", TASK_STATES.map((s) => [s, s || "any"]), "");
  const form = h("form", { class: "filters", role: "search", "aria-label": "Search tasks" },
    field("Object path", search)[0], field("Status", status)[0],
    h("button", { type: "submit" }, "Search"));
  let debounce = null;
  const apply = () => {
    taskState.search = search.value.trim();
    taskState.status = status.value;
    taskState.tokens = [""];
    loadTasks();
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); apply(); });
  search.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(apply, 250); });
  status.addEventListener("change", apply);
  const [t, body] = table("Tasks of this batch, newest status first",
    ["Task", "Object path", "Status", "Code", "Message", "Status time"], { id: "task-table" });
  taskBody = body;
  taskPager = h("nav", { class: "pager", "aria-label": "Task pages" });
  taskMessage = h("p", { role: "status", class: "message" });
  fill(tasks.body, form, taskMessage, h("div", { class: "scroll" }, t), taskPager);
  loadTasks();
}

async function loadTasks() {
  const token = taskState.tokens[taskState.tokens.length - 1];
  const query = qs({ search: taskState.search, status: taskState.status, max_results: 50,
    next_token: token });
  try {
    const page = await api(`/api/v1/batches/${enc}/tasks${query}`);
    taskState.next = page.next_token;
    fill(taskBody, page.tasks.map((t) => h("tr", { "data-task-id": t.task_id },
      h("th", { scope: "row" }, h("code", {}, t.task_id)),
      h("td", { class: "path" }, t.object_path || "—"), h("td", {}, t.status),
      h("td", {}, t.code ? h("code", {}, t.code) : ""), h("td", { class: "msg" }, t.message),
      h("td", {}, fmtTime(t.status_time)))));
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
    const [t, body] = table("Alerts for this batch", ["Rule", "Status", "Since", "Value", "Summary"]);
    fill(body, data.alerts.map((a) => h("tr", {},
      h("th", { scope: "row" }, a.rule), h("td", {}, stateBadge(a.status),
        a.silenced_by && a.silenced_by.length ? " silenced" : "", a.inhibited ? " inhibited" : ""),
      h("td", {}, fmtTime(a.active_since)), h("td", { class: "num" }, a.value ?? "—"),
      h("td", {}, a.summary || ""))));
    fill(alerts.body, h("div", { class: "scroll" }, t));
  } catch (err) {
    fill(alerts.body, h("p", { class: "message" }, err.status === 404
      ? "This daemon has no alerts API." : `Could not list alerts: ${err.message}`));
  }
}
