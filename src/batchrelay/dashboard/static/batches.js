// The batches page: one row per batch, ListBatches filters, pages, live rows.
import {
  api, ago, field, figures, fill, fmtDuration, fmtInt, fmtPct, fmtRate, h, live, progressBar, qs,
  say, select, startPage, stateBadge, table, tickAgo, timeAgo,
} from "./common.js";

const STATES = ["", "ready", "running", "succeeded", "failed", "suspended", "finished", "unknown"];
const HEADERS = ["Batch", "Kind", "Project", "State", "Progress", "Succeeded", "Failed",
  "Skipped", "Failure ratio", "Throughput", "ETA", "Last event"];

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
const pager = h("nav", { class: "pager", "aria-label": "Pages" });
main.append(filterForm(), message, h("div", { class: "scroll" }, tableEl), pager);
tickAgo();
load();
live({}, onLive);

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

function row(batch) {
  const tr = h("tr", { "data-batch-key": batch.batch_key });
  renderRow(tr, batch);
  return tr;
}

function renderRow(tr, batch) {
  const f = figures(batch);
  const link = h("a", { href: `/batches/${encodeURIComponent(batch.batch_key)}` }, batch.batch_key);
  const cells = [
    link, batch.kind, batch.project || "—", stateBadge(batch.state), progressBar(batch, f),
    fmtInt(f.succeeded), fmtInt(f.failed), fmtInt(f.skipped), fmtPct(f.ratio), fmtRate(f.rate),
    f.eta === null ? "—" : fmtDuration(f.eta), timeAgo(batch.last_received),
  ];
  const classes = ["key", "", "", "", "wide", "num", "num", "num", "num", "num", "num", ""];
  fill(tr, cells.map((c, i) => h(i === 0 ? "th" : "td",
    { class: classes[i] || undefined, scope: i === 0 ? "row" : undefined,
      "data-col": HEADERS[i].toLowerCase().replace(/ /g, "-") }, c)));
  tr.dataset.events = String(batch.events);
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
