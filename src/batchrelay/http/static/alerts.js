// Alerts and silences: alerts firing first with their figures and timeline, a silence from
// an alert or a batch in one click, expiring silences.
//
// Deep links: /alerts?state=firing, /alerts?rule=R&batch_key=K (one alert: its row is
// highlighted and scrolled to; #alert-… anchors work too), /alerts?batch_key=K#new-silence
// (the form filled in for batch K; &alertname=R adds that matcher).
import {
  alertFigures, api, breakable, field, fill, fmtTime, h, qs, say, select, startPage, stateBadge,
  table,
} from "./common.js";

const main = startPage();
const params = new URLSearchParams(location.search);
const ORDER = { firing: 0, pending: 1, resolved: 2 };

const alertFilter = select("state", [["", "any"], ["firing", "firing"], ["pending", "pending"],
  ["resolved", "resolved"]], params.get("state") || "");
const alertBody = h("div");
const silenceFilter = select("silence-state", [["", "any"], ["active", "active"],
  ["pending", "pending"], ["expired", "expired"]], "");
const silenceBody = h("div");
const formMessage = h("p", { role: "status", class: "message", id: "silence-message" });

main.append(
  h("section", { "aria-labelledby": "alerts-h" }, h("h2", { id: "alerts-h" }, "Alerts"),
    h("form", { class: "filters", "aria-label": "Filter alerts" }, field("State", alertFilter)[0]),
    alertBody),
  h("section", { "aria-labelledby": "new-silence-h", id: "new-silence" },
    h("h2", { id: "new-silence-h" }, "New silence"), silenceForm(), formMessage),
  h("section", { "aria-labelledby": "silences-h" }, h("h2", { id: "silences-h" }, "Silences"),
    h("form", { class: "filters", "aria-label": "Filter silences" },
      field("State", silenceFilter)[0]), silenceBody));
alertFilter.addEventListener("change", loadAlerts);
silenceFilter.addEventListener("change", loadSilences);
loadAlerts();
loadSilences();
if (location.hash === "#new-silence") document.getElementById("silence-matchers").focus();

/** Fill the silence form for one alert or one batch, and bring it into view. */
function prefillSilence({ rule = "", batchKey = "" }) {
  document.getElementById("silence-matchers").value = rule ? `alertname="${rule}"` : "";
  document.getElementById("silence-batch").value = batchKey;
  document.getElementById("silence-on-close").checked = Boolean(batchKey);
  document.getElementById("new-silence").scrollIntoView({ block: "start" });
  const creator = document.getElementById("silence-created-by");
  (creator.value ? document.getElementById("silence-comment") : creator).focus();
  say(formMessage, `Filled in for ${rule ? `${rule} on ` : ""}${batchKey || "every batch"}: `
    + "add a comment and create it.", "info");
}

function silenceForm() {
  const batchKey = params.get("batch_key") || "";
  const rule = params.get("alertname") || "";
  const matchers = h("textarea", { id: "silence-matchers", name: "matchers", rows: 3,
    required: !batchKey, placeholder: 'alertname="stalled"\nteam=~"legal|media"',
    "aria-describedby": "matchers-help" });
  matchers.value = rule ? `alertname="${rule}"` : "";
  const batch = h("input", { name: "batch_key", id: "silence-batch", value: batchKey });
  const duration = h("input", { name: "duration", id: "silence-duration", value: "2h",
    placeholder: "2h, 30m, 1d" });
  const creator = h("input", { name: "created_by", id: "silence-created-by", required: true,
    value: localStorage.getItem("batchrelay.created-by") || "" });
  const comment = h("input", { name: "comment", id: "silence-comment", required: true });
  const onClose = h("input", { type: "checkbox", name: "expire_on_batch_close",
    id: "silence-on-close", checked: Boolean(batchKey) });
  const form = h("form", { class: "stack", "aria-labelledby": "new-silence-h" },
    field("Matchers (one per line)", matchers)[0],
    h("p", { id: "matchers-help", class: "help" },
      'Like Alertmanager: name="value", name!="value", name=~"regex", name!~"regex". ',
      "With a batch key, the silence covers that batch's alerts."),
    field("Batch key", batch)[0], field("Duration", duration)[0],
    field("Created by", creator)[0], field("Comment", comment)[0],
    h("div", { class: "field inline" }, onClose,
      h("label", { for: "silence-on-close" }, "Expire when the batch closes")),
    h("button", { type: "submit" }, "Create silence"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {
      matchers: matchers.value.split("\n").map((m) => m.trim()).filter(Boolean),
      duration: duration.value.trim() || undefined,
      created_by: creator.value.trim(),
      comment: comment.value.trim(),
    };
    if (batch.value.trim()) {
      body.batch_key = batch.value.trim();
      body.expire_on_batch_close = onClose.checked;
    }
    localStorage.setItem("batchrelay.created-by", body.created_by);
    try {
      const { silence } = await api("/api/v1/silences", { method: "POST", body, auth: true });
      say(formMessage, `Silence ${silence.id} created.`, "ok");
      comment.value = "";
      loadSilences();
    } catch (err) {
      say(formMessage, `Could not create the silence: ${err.message}`, "error");
    }
  });
  return form;
}

async function loadAlerts() {
  try {
    const query = { state: alertFilter.value, rule: params.get("rule"),
      batch_key: params.get("rule") ? params.get("batch_key") : undefined };
    const data = await api(`/api/v1/alerts${qs(query)}`);
    if (!data.alerts.length) return fill(alertBody, h("p", {}, "No alerts."));
    const sorted = [...data.alerts].sort((a, b) => (ORDER[a.status] - ORDER[b.status])
      || Date.parse(b.active_since) - Date.parse(a.active_since));
    const [t, body] = table("Alerts, firing first", ["Rule", "Batch", "Status", "Figures",
      "Timeline", "Summary", "Silenced by", ""], { id: "alert-table" });
    t.classList.add("cards");
    fill(body, sorted.map(alertRow));
    fill(alertBody, h("div", { class: "scroll" }, t));
    showTarget();
  } catch (err) {
    fill(alertBody, h("p", { class: "message error" }, `Could not list alerts: ${err.message}`));
  }
}

/** The anchor of one alert: #alert-<rule>-<batch key>, unsafe characters as "_". */
function alertAnchor(rule, batchKey) {
  return `alert-${rule}-${batchKey}`.replace(/[^A-Za-z0-9_.:-]/g, "_");
}

function alertRow(a) {
  const cell = (label, value, cls) => h("td", { "data-label": label, class: cls }, value);
  return h("tr", { id: alertAnchor(a.rule, a.batch_key), "data-status": a.status,
    "data-rule": a.rule, "data-batch-key": a.batch_key },
  h("th", { scope: "row" }, a.rule),
  cell("Batch", a.batch_key
    ? h("a", { href: `/batches/${encodeURIComponent(a.batch_key)}` }, breakable(a.batch_key)) : "—"),
  cell("Status", [stateBadge(a.status), a.inhibited ? " inhibited" : ""]),
  cell("Figures", alertFigures(a.value)), cell("Timeline", timeline(a)),
  cell("Summary", a.summary || "", "msg"), cell("Silenced by", (a.silenced_by || []).join(", ") || "—"),
  cell("", a.status === "resolved" ? "" : h("button", { type: "button", class: "secondary small",
    "aria-label": `Silence ${a.rule} on ${a.batch_key}`,
    onclick: () => prefillSilence({ rule: a.rule, batchKey: a.batch_key }) }, "Silence…")));
}

/** The alert's states in order: pending since, firing at, last notified, resolved at. */
function timeline(a) {
  const steps = [["pending", a.active_since], ["firing", a.fired_at],
    ["notified", a.last_notified_at], ["resolved", a.resolved_at]].filter(([, t]) => t);
  return h("ol", { class: "timeline" }, steps.map(([name, t]) => h("li", {},
    h("time", { datetime: t, title: fmtTime(t) }, `${name} ${fmtTime(t).slice(5, 16)}`))));
}

function showTarget() {
  const rule = params.get("rule");
  const id = location.hash.startsWith("#alert-") ? location.hash.slice(1)
    : rule ? alertAnchor(rule, params.get("batch_key") || "") : "";
  const row = id && document.getElementById(id);
  if (!row) return;
  row.classList.add("target");
  row.scrollIntoView({ block: "center" });
}

function matcherText(m) {
  return Array.isArray(m) ? `${m[0]}${m[1]}"${m[2]}"` : String(m);
}

async function loadSilences() {
  try {
    const data = await api(`/api/v1/silences${qs({ state: silenceFilter.value })}`);
    if (!data.silences.length) return fill(silenceBody, h("p", {}, "No silences."));
    const [t, body] = table("Silences", ["Id", "Matchers", "Batch", "State", "Starts", "Ends",
      "Created by", "Comment", ""], { id: "silence-table" });
    fill(body, data.silences.map((si) => h("tr", { "data-silence-id": si.id },
      h("th", { scope: "row" }, h("code", {}, si.id)),
      h("td", {}, (si.matchers || []).map((m) => h("code", { class: "matcher" }, matcherText(m)))),
      h("td", {}, si.batch_key || "—"), h("td", {}, stateBadge(si.state)),
      h("td", {}, fmtTime(si.starts_at)), h("td", {}, fmtTime(si.ends_at)),
      h("td", {}, si.created_by), h("td", {}, si.comment),
      h("td", {}, si.state === "expired" ? "" : h("button", { type: "button", class: "secondary small",
        "aria-label": `Expire silence ${si.id}`, onclick: () => expire(si.id) }, "Expire")))));
    fill(silenceBody, h("div", { class: "scroll" }, t));
  } catch (err) {
    fill(silenceBody, h("p", { class: "message error" }, `Could not list silences: ${err.message}`));
  }
}

async function expire(id) {
  try {
    await api(`/api/v1/silences/${encodeURIComponent(id)}`, { method: "DELETE", auth: true });
    say(formMessage, `Silence ${id} expired.`, "ok");
  } catch (err) {
    say(formMessage, `Could not expire ${id}: ${err.message}`, "error");
  }
  loadSilences();
}
