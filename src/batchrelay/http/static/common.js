// Shared pieces of the dashboard: safe DOM building, the API client, the bearer token,
// number formats, a batch's figures and the live stream. Nothing is parsed as HTML: every
// string from data becomes a text node.

const SVG_NS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "batchrelay.api-token";

/** An element; props are attributes (on*, functions, become listeners); strings become text. */
export function h(tag, props = {}, ...children) {
  return build(document.createElement(tag), props, children);
}

/** An SVG element, built like h(). */
export function s(tag, props = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), props, children);
}

function build(el, props, children) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function" && key.startsWith("on")) {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (key === "checked" || key === "selected") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ------------------------------------------------------------------ API

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? `${status}: ${body.detail}` : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** JSON from the API; `auth` adds the bearer token (asking for it once per session). */
export async function api(path, { method = "GET", body, auth = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth) {
    const token = await getToken();
    if (!token) throw new ApiError(401, { detail: "no API token given" });
    headers.Authorization = `Bearer ${token}`;
  }
  const resp = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin", cache: "no-store",
  });
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (!resp.ok) {
    if (auth && (resp.status === 401 || resp.status === 403)) sessionStorage.removeItem(TOKEN_KEY);
    throw new ApiError(resp.status, data);
  }
  return data;
}

/** A query string from an object, leaving out empty values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") q.set(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

// ------------------------------------------------------------------ token

let tokenDialog = null;

function ensureTokenDialog() {
  if (tokenDialog) return tokenDialog;
  const input = h("input", { type: "password", id: "token-input", name: "token",
    autocomplete: "off", required: true });
  const form = h("form", { method: "dialog" },
    h("h2", {}, "API token"),
    h("p", {}, "Actions that change state need the daemon's api.token. It is kept in this ",
      "tab's session storage only."),
    h("label", { for: "token-input" }, "Bearer token"), input,
    h("div", { class: "actions" },
      h("button", { type: "submit", value: "save" }, "Save"),
      h("button", { type: "submit", value: "cancel", class: "secondary", formnovalidate: true },
        "Cancel"),
      h("button", { type: "submit", value: "forget", class: "secondary", formnovalidate: true },
        "Forget")));
  tokenDialog = h("dialog", { id: "token-dialog", "aria-labelledby": "token-title" }, form);
  form.querySelector("h2").id = "token-title";
  document.body.append(tokenDialog);
  return tokenDialog;
}

/** Ask for the token in a modal dialog; resolves with it, or "" when cancelled. */
export function askToken() {
  const dialog = ensureTokenDialog();
  const input = dialog.querySelector("input");
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "save" && input.value.trim()) {
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      } else if (dialog.returnValue === "forget") {
        sessionStorage.removeItem(TOKEN_KEY);
      }
      input.value = "";
      updateTokenButton();
      resolve(sessionStorage.getItem(TOKEN_KEY) || "");
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
}

async function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || (await askToken());
}

function updateTokenButton() {
  const button = document.getElementById("token-button");
  if (!button) return;
  const set = Boolean(sessionStorage.getItem(TOKEN_KEY));
  button.textContent = set ? "API token ✓" : "API token";
  button.setAttribute("aria-label", set ? "API token (set): change or forget" : "Set API token");
}

// ------------------------------------------------------------------ dialogs and messages

/** A modal dialog showing preformatted text (a raw payload, headers). */
export function showText(title, text) {
  const close = h("button", { type: "submit", value: "close" }, "Close");
  const dialog = h("dialog", { class: "wide", "aria-label": title },
    h("form", { method: "dialog" },
      h("h2", {}, title),
      h("pre", { class: "raw", tabindex: "0" }, text),
      h("div", { class: "actions" }, close)));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}

/** Bytes from base64, shown as pretty JSON, text, or hex when not UTF-8. */
export function decodeRaw(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
  }
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

/** Put a status message (role=status) into el. */
export function say(el, text, kind = "info") {
  el.className = `message ${kind}`;
  el.textContent = text;
}

// ------------------------------------------------------------------ formats

export function fmtInt(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

export function fmtPct(ratio) {
  return ratio === null || ratio === undefined || Number.isNaN(ratio)
    ? "—" : `${(ratio * 100).toFixed(ratio < 0.1 && ratio > 0 ? 1 : 0)}%`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function ago(iso) {
  if (!iso) return "—";
  return `${fmtDuration((Date.now() - Date.parse(iso)) / 1000)} ago`;
}

/** ISO text from microseconds since the epoch (the deliveries API's times). */
export function fromMicros(us) {
  return us ? new Date(Number(us) / 1000).toISOString() : null;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** A <time> element that shows "… ago" and keeps the exact time in its title. */
export function timeAgo(iso) {
  return h("time", { datetime: iso || "", title: fmtTime(iso), "data-ago": iso || "" }, ago(iso));
}

/** Refresh every "… ago" on the page now and then. */
export function tickAgo(root = document) {
  const refresh = () => {
    for (const el of root.querySelectorAll("time[data-ago]")) {
      el.textContent = ago(el.getAttribute("data-ago"));
    }
  };
  setInterval(refresh, 5000);
}

// ------------------------------------------------------------------ a batch's figures

const FINAL_OK = ["succeeded", "finished"];
const RUNNING = ["running", "ready"];

/** Progress, counts, ratio, throughput and ETA of one BatchView. */
export function figures(batch) {
  const counts = batch.task_counts || {};
  const stat = batch.statistic;
  const succeeded = FINAL_OK.reduce((n, k) => n + (counts[k] || 0), 0);
  const failed = counts.failed || 0;
  let processed = succeeded + failed;
  const seen = Object.values(counts).reduce((a, b) => a + b, 0);
  const statDone = stat ? stat.submit_success + stat.submit_failure : 0;
  if (!seen && stat) processed = statDone;
  const expected = Number.parseInt((batch.tags || {}).expected_total ?? "", 10);
  const total = Number.isFinite(expected) && expected > 0 ? expected : Math.max(seen, statDone, processed);
  const elapsed = (Date.parse(batch.last_seen) - Date.parse(batch.first_seen)) / 1000;
  const rate = elapsed > 0 && processed > 0 ? processed / elapsed : null; // per second
  const running = RUNNING.includes(batch.state);
  const left = Math.max(0, total - processed);
  return {
    succeeded: seen ? succeeded : stat ? stat.submit_success : 0,
    failed: seen ? failed : stat ? stat.submit_failure : 0,
    skipped: stat ? stat.skip_files : 0,
    processed, total, expected: Number.isFinite(expected) && expected > 0,
    ratio: processed ? failed / processed : null,
    rate, running,
    eta: running && rate ? left / rate : null,
  };
}

export function fmtRate(perSecond) {
  if (!perSecond) return "—";
  return perSecond >= 1 ? `${perSecond.toFixed(1)}/s` : `${(perSecond * 60).toFixed(1)}/min`;
}

/** Segments of a batch's tasks: [name, css class, count], remaining last. */
export function segments(f) {
  const remaining = Math.max(0, f.total - f.succeeded - f.failed - f.skipped);
  return [["succeeded", "seg-ok", f.succeeded], ["failed", "seg-bad", f.failed],
    ["skipped", "seg-skip", f.skipped], ["remaining", "seg-left", remaining]];
}

/**
 * A bar of succeeded / failed / skipped / remaining segments (SVG: no inline style under
 * the page's policy), with a visible "n / total" and the same figures as its text
 * alternative, so colour is never the only cue.
 */
export function progressBar(batch, f = figures(batch)) {
  const parts = segments(f);
  const whole = Math.max(1, parts.reduce((n, p) => n + p[2], 0));
  let x = 0;
  const rects = parts.filter((p) => p[2] > 0).map(([name, cls, n]) => {
    const width = (n / whole) * 100;
    const rect = s("rect", { class: cls, x: x.toFixed(3), y: 0, width: width.toFixed(3),
      height: 10 }, s("title", {}, `${fmtInt(n)} ${name}`));
    x += width;
    return rect;
  });
  const label = `${batch.batch_key}: ${f.processed} of ${f.total} processed; `
    + parts.map(([name, , n]) => `${fmtInt(n)} ${name}`).join(", ");
  const bar = s("svg", { class: "bar", viewBox: "0 0 100 10", preserveAspectRatio: "none",
    role: "img", "aria-label": label, "data-processed": f.processed, "data-total": f.total,
    "data-failed": f.failed }, rects);
  return h("div", { class: "progress" }, bar,
    h("span", { class: "progress-text" }, `${fmtInt(f.processed)} / ${fmtInt(f.total)}`,
      f.expected ? " expected" : ""));
}

const STATE_ICONS = {
  succeeded: "✓", finished: "✓", delivered: "✓", resolved: "✓", active: "✓",
  failed: "✕", dead: "✕", firing: "!", running: "▶", sending: "▶", ready: "○",
  pending: "…", suspended: "‖", expired: "–", muted: "–", coalesced: "≡", unknown: "?",
};

/** A state as text with an icon: the colour only repeats what both already say. */
export function stateBadge(state) {
  const name = String(state);
  return h("span", { class: `badge state-${name.replace(/[^a-z_]/g, "")}` },
    h("span", { class: "icon", "aria-hidden": "true" }, STATE_ICONS[name] || "•"), name);
}

/** Text that may break after / . _ - (object paths, keys), never in the middle of a word. */
export function breakable(text) {
  const parts = String(text ?? "").split(/(?<=[/._-])/);
  return parts.flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
}

/** A small bar sparkline of counts per bucket, with a text alternative. */
export function sparkline(values, label) {
  const top = Math.max(1, ...values);
  const w = 100 / Math.max(1, values.length);
  const bars = values.map((v, i) => (v ? s("rect", { x: (i * w).toFixed(2), width: (w * 0.8).toFixed(2),
    y: (20 - (v / top) * 20).toFixed(2), height: ((v / top) * 20).toFixed(2) }) : null));
  return s("svg", { class: "spark", viewBox: "0 0 100 20", preserveAspectRatio: "none",
    role: "img", "aria-label": label }, s("title", {}, label), bars);
}

const ALERT_LABELS = { status: "Status", processed: "Processed", failure_ratio: "Failure ratio",
  submit_failure: "Submit failures", idle_for: "Idle for" };

/** An alert's value, "status=running processed=120 failure_ratio=0.1300 …" as labelled figures. */
export function alertFigures(value) {
  const pairs = String(value || "").split(/\s+/).filter((p) => p.includes("="))
    .map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]);
  if (!pairs.length) return value || "—";
  return h("dl", { class: "figures" }, pairs.flatMap(([k, v]) => [
    h("dt", {}, ALERT_LABELS[k] || k.replace(/_/g, " ")), h("dd", {}, figure(k, v))]));
}

function figure(name, raw) {
  if (name === "failure_ratio" && Number.isFinite(Number(raw))) return fmtPct(Number(raw));
  const seconds = /^(\d+)s$/.exec(raw);
  if (seconds) return fmtDuration(Number(seconds[1]));
  return raw;
}

// ------------------------------------------------------------------ live updates

/**
 * Follow /api/v1/stream: onBatch(view) for each changed batch. EventSource reconnects by
 * itself after a network error (the server sends retry:); after an HTTP error it gives up,
 * so we open a new one with a back-off. Last-Event-ID carries the cursor over.
 */
export function live(params, onBatch) {
  const status = document.getElementById("live");
  let lastId = "";
  let delay = 1000;
  const show = (text, state) => {
    if (!status) return;
    status.textContent = text;
    status.dataset.state = state;
  };
  const open = () => {
    const source = new EventSource(`/api/v1/stream${qs({ ...params, since: lastId })}`);
    source.addEventListener("open", () => { delay = 1000; show("live", "live"); });
    source.addEventListener("hello", (e) => { lastId = e.lastEventId || lastId; });
    source.addEventListener("batch", (e) => {
      lastId = e.lastEventId || lastId;
      onBatch(JSON.parse(e.data));
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        show("reconnecting…", "down");
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 15000);
      } else {
        show("reconnecting…", "down");
      }
    });
  };
  open();
}

// ------------------------------------------------------------------ page start

/** Common start: mark the current nav item and wire the token button. */
export function startPage() {
  const page = document.body.dataset.page;
  const nav = document.querySelector(`[data-nav="${page === "batch" ? "batches" : page}"]`);
  if (nav) nav.setAttribute("aria-current", "page");
  const button = document.getElementById("token-button");
  if (button) button.addEventListener("click", () => askToken());
  updateTokenButton();
  return document.getElementById("main");
}

/** A table with a caption and headers; returns [table, tbody]. */
export function table(caption, headers, { id } = {}) {
  const body = h("tbody");
  const t = h("table", { id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", { scope: "col" }, c)))),
    body);
  return [t, body];
}

/** Labelled form control: returns [wrapper, control]. */
export function field(label, control) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  return [h("div", { class: "field" }, h("label", { for: control.id }, label), control), control];
}

export function select(name, options, value) {
  return h("select", { name },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}
