// Batch actions on the batch page: suspend, resume, update tags (bearer token), and the batch's
// history of actions with who asked. Mounts itself after the summary once the page is built.
import { api, fill, fmtTime, h, qs, say, table } from "./common.js";

// The service's rules (IMM): the raw states each action is allowed in.
const ALLOWED = {
  suspend: ["Ready", "Running"],
  resume: ["Suspended", "Failed"],
  update: ["Ready", "Failed"],
};
const ACTOR_KEY = "batchrelay.actor";

const key = decodeURIComponent(location.pathname.replace(/^\/batches\//, ""));
const enc = encodeURIComponent(key);

document.addEventListener("DOMContentLoaded", mount);

function mount() {
  const summary = document.getElementById("summary");
  if (!summary) return;
  const message = h("p", { role: "status", class: "message", id: "action-message" });
  const actor = h("input", { type: "text", id: "action-actor", name: "actor", maxlength: 200,
    autocomplete: "name", value: sessionStorage.getItem(ACTOR_KEY) || "" });
  const tags = h("input", { type: "text", id: "action-tags", name: "tags",
    placeholder: "team=docs, env=prod" });
  const buttons = {
    suspend: h("button", { type: "button", id: "action-suspend" }, "Suspend"),
    resume: h("button", { type: "button", id: "action-resume" }, "Resume"),
    update: h("button", { type: "button", id: "action-update", class: "secondary" }, "Update tags"),
  };
  const history = h("div", { id: "action-history" });
  const section = h("section", { id: "actions", "aria-labelledby": "actions-h" },
    h("h2", { id: "actions-h" }, "Actions"),
    h("div", { class: "section-body" },
      h("p", {}, "Suspending stops new tasks while submitted ones finish; resuming runs a ",
        "suspended or failed batch again. Updating is allowed only in Ready or Failed and does ",
        "not resume the batch."),
      h("div", { class: "field" }, h("label", { for: "action-actor" }, "Your name"), actor),
      h("div", { class: "field" }, h("label", { for: "action-tags" }, "New tags"), tags),
      h("div", { class: "actions" }, buttons.suspend, buttons.resume, buttons.update),
      message, history));
  summary.after(section);

  const state = { raw: "" };
  const refresh = async () => {
    try {
      const batch = await api(`/api/v1/batches/${enc}`);
      state.raw = batch.kind === "batch" ? batch.raw_state : "";
    } catch { state.raw = ""; }
    for (const [name, button] of Object.entries(buttons)) {
      button.disabled = !ALLOWED[name].includes(state.raw);
      button.title = button.disabled ? `Not allowed while the batch is ${state.raw || "unknown"}` : "";
    }
    await loadHistory(history);
  };
  const run = async (action) => {
    const who = actor.value.trim() || "dashboard";
    sessionStorage.setItem(ACTOR_KEY, actor.value.trim());
    const body = { action, actor: who };
    if (action === "update") {
      const parsed = parseTags(tags.value);
      if (!parsed) return say(message, "Write the new tags as key=value, separated by commas.", "error");
      body.changes = { Tags: parsed };
    }
    try {
      const done = await api(`/api/v1/batches/${enc}/actions`, { method: "POST", body, auth: true });
      say(message, `${action}: done; the batch is now ${done.raw_state || done.state}.`, "ok");
    } catch (err) {
      const detail = err.body && err.body.detail ? err.body.detail : err.message;
      say(message, `${action}: ${detail}`, "error");
    }
    await refresh();
  };
  for (const [name, button] of Object.entries(buttons)) button.addEventListener("click", () => run(name));
  refresh();
}

function parseTags(text) {
  const found = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf("=");
    if (at < 1) return null;
    found[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return Object.keys(found).length ? found : null;
}

async function loadHistory(el) {
  try {
    const page = await api(`/api/v1/batches/${enc}/actions${qs({ max_results: 20 })}`);
    if (!page.actions.length) return fill(el, h("p", {}, "No actions yet."));
    const [t, body] = table("Actions on this batch, newest first",
      ["When", "Action", "Who", "Outcome", "Detail"], { id: "action-table" });
    fill(body, page.actions.map((a) => h("tr", { "data-action-id": String(a.id) },
      h("td", {}, fmtTime(a.at)), h("th", { scope: "row" }, a.action), h("td", {}, a.actor),
      h("td", {}, a.outcome), h("td", {}, a.detail || "—"))));
    fill(el, h("div", { class: "scroll" }, t));
  } catch (err) {
    fill(el, h("p", { class: "message error" }, `Could not load the actions: ${err.message}`));
  }
}
