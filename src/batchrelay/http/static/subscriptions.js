// Webhook subscriptions: each one's state, a signed test ping, pause and resume, and its
// delivery log. Changes need the bearer token (asked for once per tab).
import {
  api, fill, fmtTime, fromMicros, h, say, showText, startPage, table,
} from "./common.js";

const main = startPage();
const message = h("p", { role: "status", class: "message", id: "subscription-message" });
const body = h("div");
main.append(h("p", {}, "Other systems subscribed to batch events over ",
  h("code", {}, "/api/v1/subscriptions"), ". Each message is signed the Standard Webhooks way."),
message, body);
load();

async function load() {
  try {
    const { subscriptions } = await api("/api/v1/subscriptions");
    if (!subscriptions.length) {
      fill(body, h("p", {}, "No subscriptions yet."));
      return;
    }
    const [t, tbody] = table("Subscriptions, oldest first", ["Subscription", "URL",
      "Description", "Filter", "State", "Failing since", ""], { id: "subscriptions-table" });
    fill(tbody, subscriptions.map(row));
    fill(body, h("div", { class: "scroll" }, t));
  } catch (err) {
    say(message, `Could not list subscriptions: ${err.message}`, "error");
  }
}

function row(s) {
  const filter = [JSON.stringify(s.filter), s.kinds.length ? `kinds: ${s.kinds.join(", ")}` : ""]
    .filter(Boolean).join("; ");
  return h("tr", { "data-subscription-id": s.id },
    h("th", { scope: "row" }, h("code", {}, s.id)), h("td", { class: "msg" }, s.url),
    h("td", {}, s.description || "—"), h("td", { class: "msg" }, h("code", {}, filter)),
    h("td", {}, s.enabled ? "enabled" : `disabled: ${s.disabled_reason || ""}`),
    h("td", {}, s.failing_since ? fmtTime(fromMicros(s.failing_since)) : "—"),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "secondary small", "aria-label": `Deliveries of ${s.id}`,
        onclick: () => deliveries(s.id) }, "Deliveries"),
      h("button", { type: "button", class: "secondary small", "aria-label": `Test ${s.id}`,
        onclick: () => ping(s.id) }, "Test"),
      h("button", { type: "button", class: "small",
        "aria-label": `${s.enabled ? "Disable" : "Enable"} ${s.id}`,
        onclick: () => toggle(s) }, s.enabled ? "Disable" : "Enable")));
}

async function deliveries(id) {
  try {
    const log = await api(`/api/v1/subscriptions/${encodeURIComponent(id)}/deliveries`);
    showText(`Deliveries of ${id}, newest first`, JSON.stringify(log.deliveries, null, 2));
  } catch (err) {
    say(message, `Could not read the deliveries of ${id}: ${err.message}`, "error");
  }
}

async function ping(id) {
  try {
    const answer = await api(`/api/v1/subscriptions/${encodeURIComponent(id)}/test`,
      { method: "POST", auth: true });
    const result = answer.ok ? `answered ${answer.status}`
      : `failed: ${answer.status ?? answer.error} ${answer.detail || answer.body || ""}`;
    say(message, `Test ping to ${id} ${result} in ${Math.round(answer.latency_ms)} ms.`,
      answer.ok ? "ok" : "error");
  } catch (err) {
    say(message, `Could not test ${id}: ${err.message}`, "error");
  }
}

async function toggle(s) {
  try {
    await api(`/api/v1/subscriptions/${encodeURIComponent(s.id)}`,
      { method: "PATCH", auth: true, body: { enabled: !s.enabled } });
    say(message, `${s.id} is ${s.enabled ? "disabled" : "enabled"}.`, "ok");
    load();
  } catch (err) {
    say(message, `Could not change ${s.id}: ${err.message}`, "error");
  }
}
