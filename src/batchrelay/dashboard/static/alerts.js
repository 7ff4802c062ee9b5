// Alerts and silences: list alerts, create a silence (for one batch, say), expire silences.
import {
  api, field, fill, fmtTime, h, qs, say, select, startPage, stateBadge, table,
} from "./common.js";

const main = startPage();
const params = new URLSearchParams(location.search);

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

function silenceForm() {
  const batchKey = params.get("batch_key") || "";
  const matchers = h("textarea", { id: "silence-matchers", name: "matchers", rows: 3,
    required: !batchKey, placeholder: 'alertname="stalled"\nteam=~"legal|media"',
    "aria-describedby": "matchers-help" });
  if (batchKey) matchers.value = "";
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
    const data = await api(`/api/v1/alerts${qs({ state: alertFilter.value })}`);
    if (!data.alerts.length) return fill(alertBody, h("p", {}, "No alerts."));
    const [t, body] = table("Alerts", ["Rule", "Batch", "Status", "Since", "Value", "Summary",
      "Silenced by"], { id: "alert-table" });
    fill(body, data.alerts.map((a) => h("tr", {},
      h("th", { scope: "row" }, a.rule),
      h("td", {}, a.batch_key
        ? h("a", { href: `/batches/${encodeURIComponent(a.batch_key)}` }, a.batch_key) : "—"),
      h("td", {}, stateBadge(a.status), a.inhibited ? " inhibited" : ""),
      h("td", {}, fmtTime(a.active_since)), h("td", { class: "num" }, a.value ?? "—"),
      h("td", {}, a.summary || ""), h("td", {}, (a.silenced_by || []).join(", ") || "—"))));
    fill(alertBody, h("div", { class: "scroll" }, t));
  } catch (err) {
    fill(alertBody, h("p", { class: "message error" }, `Could not list alerts: ${err.message}`));
  }
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
