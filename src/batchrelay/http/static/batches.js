// The batches page: one row per batch, ListBatches filters, pages, live rows.
// Columns collapse by priority as the screen narrows (app.css, data-priority), and rows
// become cards on phones; the batch key stays first and sticky.
import {
  api, ago, breakable, field, figures, fill, fmtDuration, fmtInt, fmtPct, fmtRate, h, live,
  progressBar, qs, say, select, sparkline, startPage, stateBadge, table, tickAgo, timeAgo,
} from "./common.js";

const STATES = ["", "ready", "running", "succeeded", "failed", "suspended", "finished", "unknown"];
// [header, priority]: 1 always shown, 4 first to go
const COLUMNS = [["Batch", 1], ["State", 1], ["Progress", 1], ["Last hour", 2], ["Succeeded", 3],
  ["Failed", 2], ["Skipped", 4], ["Failure ratio", 2], ["Throughput", 3], ["ETA", 3],
  ["Last event", 2], ["Kind", 4], ["Project", 4]];
const HEADERS = COLUMNS.map((c) => c[0]);
const ACTIVITY_EVERY_MS = 60000;

const main = startPage();
const params = new URLSearchParams(location.search);
const filters = {
  State: params.get("State") || "",
  TagSelector: params.get("TagSelector") || "",
  ProjectName: params.get("ProjectName") || "",
  Sort: params.get("Sort") || "CreateTime",
  Order: params.get("Order") || "DESC",
  MaxResults: params.get("MaxResults") || "50",
};
let tokens = [""]; // the NextToken of each page seen so far; the last one is the current page
let nextToken = "";

const message = h("p", { role: "status", class: "message" });
const [tableEl, tbody] = table("Batches", HEADERS, { id: "batches" });
tableEl.classList.add("batches", "cards");
tableEl.querySelectorAll("thead th").forEach((th, i) => { th.dataset.priority = COLUMNS[i][1]; });
const pager = h("nav", { class: "pager", "aria-label": "Pages" });
const activity = new Map(); // batch key -> events per bucket over the last hour
main.append(filterForm(), message, h("div", { class: "table-wrap" }, tableEl), pager);
tickAgo();
load();
live({}, onLive);
setInterval(loadActivity, ACTIVITY_EVERY_MS);

function filterForm() {
  const state = select("State", STATES.map((s) => [s, s || "any"]), filters.State);
  const tags = h("input", { name: "TagSelector", value: filters.TagSelector,
    placeholder: "team=legal,env" });
  const project = h("input", { name: "ProjectName", value: filters.ProjectName });
  const sort = select("Sort", [["CreateTime", "create time"], ["UpdateTime", "update time"]],
    filters.Sort);
  const order = select("Order", [["DESC", "newest first"], ["ASC", "oldest first"]],
    filters.Order);
  const size = select("MaxResults", ["20", "50", "100"].map((n) => [n, n]), filters.MaxResults);
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter batches" },
    field("State", state)[0], field("Tags", tags)[0], field("Project", project)[0],
    field("Sort by", sort)[0], field("Order", order)[0], field("Per page", size)[0],
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const [key, value] of new FormData(form)) filters[key] = String(value).trim();
    history.replaceState(null, "", qs(filters) || location.pathname);
    tokens = [""];
    load();
  });
  for (const control of [state, sort, order, size]) {
    control.addEventListener("change", () => form.requestSubmit());
  }
  return form;
}

async function load() {
  const token = tokens[tokens.length - 1];
  try {
    const page = await api(`/api/v1/batches${qs({ ...filters, NextToken: token })}`);
    nextToken = page.next_token;
    fill(tbody, page.batches.map(row));
    say(message, page.batches.length ? "" : "No batches match.", "info");
    loadActivity();
  } catch (err) {
    say(message, `Could not list batches: ${err.message}`, "error");
  }
  renderPager();
}

function renderPager() {
  const prev = h("button", { type: "button", class: "secondary", disabled: tokens.length < 2,
    onclick: () => { tokens.pop(); load(); } }, "← Previous");
  const next = h("button", { type: "button", class: "secondary", disabled: !nextToken,
    onclick: () => { tokens.push(nextToken); load(); } }, "Next →");
  fill(pager, prev, h("span", {}, `Page ${tokens.length}`), next);
}

/** Sparklines: the last hour's events per 2 minutes, for the running batches shown. */
async function loadActivity() {
  const keys = [...tbody.rows].filter((tr) => tr.dataset.running === "true")
    .map((tr) => tr.dataset.batchKey);
  if (!keys.length) return;
  try {
    const query = keys.map((k) => `batch_key=${encodeURIComponent(k)}`).join("&");
    const found = await api(`/api/v1/activity?${query}`);
    for (const [key, values] of Object.entries(found.batches)) {
      activity.set(key, values);
      const tr = [...tbody.rows].find((r) => r.dataset.batchKey === key);
      if (tr) fill(tr.querySelector("[data-col=last-hour]"), spark(key));
    }
  } catch {
    // sparklines are an extra: the table stays as it is
  }
}

function spark(key) {
  const values = activity.get(key);
  if (!values) return "";
  const total = values.reduce((a, b) => a + b, 0);
  return sparkline(values, `${fmtInt(total)} events in the last hour`);
}

function row(batch) {
  const tr = h("tr", { "data-batch-key": batch.batch_key });
  renderRow(tr, batch);
  return tr;
}

function renderRow(tr, batch) {
  const f = figures(batch);
  const link = h("a", { href: `/batches/${encodeURIComponent(batch.batch_key)}` },
    breakable(batch.batch_key));
  const cells = [
    link, stateBadge(batch.state), progressBar(batch, f), f.running ? spark(batch.batch_key) : "",
    fmtInt(f.succeeded), fmtInt(f.failed), fmtInt(f.skipped), fmtPct(f.ratio), fmtRate(f.rate),
    f.eta === null ? "—" : fmtDuration(f.eta), timeAgo(batch.last_received), batch.kind,
    batch.project || "—",
  ];
  const classes = ["key", "", "wide", "spark-cell", "num", "num", "num", "num", "num", "num", "",
    "", ""];
  fill(tr, cells.map((c, i) => h(i === 0 ? "th" : "td",
    { class: classes[i] || undefined, scope: i === 0 ? "row" : undefined,
      "data-col": HEADERS[i].toLowerCase().replace(/ /g, "-"), "data-label": HEADERS[i],
      "data-priority": COLUMNS[i][1] }, c)));
  tr.dataset.events = String(batch.events);
  tr.dataset.running = String(f.running);
  tr.dataset.state = batch.state;
  tr.classList.toggle("has-failures", f.failed > 0);
}

function matches(batch) {
  if (filters.State && batch.state !== filters.State.toLowerCase()
      && (batch.raw_state || "").toLowerCase() !== filters.State.toLowerCase()) return false;
  if (filters.ProjectName && batch.project !== filters.ProjectName) return false;
  for (const part of filters.TagSelector.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [key, ...rest] = part.split("=");
    const tags = batch.tags || {};
    if (!(key.trim() in tags)) return false;
    if (rest.length && tags[key.trim()] !== rest.join("=").trim()) return false;
  }
  return true;
}

function onLive(batch) {
  const existing = [...tbody.rows].find((tr) => tr.dataset.batchKey === batch.batch_key);
  if (existing) {
    renderRow(existing, batch);
    existing.classList.remove("flash");
    void existing.offsetWidth; // restart the highlight
    existing.classList.add("flash");
    return;
  }
  // a new batch: shown on the first page of a newest-first listing that it matches
  if (tokens.length > 1 || filters.Order !== "DESC" || !matches(batch)) return;
  const tr = row(batch);
  tr.classList.add("flash", "new");
  tbody.prepend(tr);
  while (tbody.rows.length > Number(filters.MaxResults)) tbody.lastElementChild.remove();
  say(message, `New batch ${batch.batch_key} (${ago(batch.first_seen)})`, "info");
}
