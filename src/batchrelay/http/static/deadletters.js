// Dead letters: inspect them and replay one (bearer token).
import {
  api, fill, fmtInt, fmtTime, fromMicros, h, qs, say, showText, startPage, table,
} from "./common.js";

const main = startPage();
const message = h("p", { role: "status", class: "message", id: "replay-message" });
const body = h("div");
const pager = h("nav", { class: "pager", "aria-label": "Pages" });
main.append(h("p", {}, "Deliveries that ran out of retries. Replaying one sends it again ",
  "under the same id."), message, body, pager);
let tokens = [""];
load();

async function load() {
  const token = tokens[tokens.length - 1];
  try {
    const page = await api(`/api/v1/deadletters${qs({ max_results: 50, next_token: token })}`);
    if (!page.deliveries.length) fill(body, h("p", {}, "No dead letters."));
    else {
      const [t, tbody] = table("Dead letters, newest first", ["Delivery", "Receiver", "Route",
        "Batch", "Events", "Attempts", "Last reason", "Dead since", ""], { id: "dead-table" });
      fill(tbody, page.deliveries.map(row));
      fill(body, h("div", { class: "scroll" }, t));
    }
    fill(pager,
      h("button", { type: "button", class: "secondary", disabled: tokens.length < 2,
        onclick: () => { tokens.pop(); load(); } }, "← Newer"),
      h("button", { type: "button", class: "secondary", disabled: !page.next_token,
        onclick: () => { tokens.push(page.next_token); load(); } }, "Older →"));
  } catch (err) {
    say(message, `Could not list dead letters: ${err.message}`, "error");
  }
}

function row(d) {
  return h("tr", { "data-delivery-id": d.id },
    h("th", { scope: "row" }, h("code", {}, d.id)), h("td", {}, d.receiver), h("td", {}, d.route),
    h("td", {}, d.batch_key
      ? h("a", { href: `/batches/${encodeURIComponent(d.batch_key)}` }, d.batch_key) : "—"),
    h("td", { class: "num" }, fmtInt(d.events)), h("td", { class: "num" }, fmtInt(d.attempts)),
    h("td", {}, d.last_reason || "—"), h("td", {}, fmtTime(fromMicros(d.updated_at))),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "secondary small", "aria-label": `Details of ${d.id}`,
        onclick: () => showText(`Dead letter ${d.id}`, JSON.stringify(d, null, 2)) }, "Details"),
      h("button", { type: "button", class: "small", "aria-label": `Replay ${d.id}`,
        onclick: () => replay(d.id) }, "Replay")));
}

async function replay(id) {
  try {
    await api(`/api/v1/deadletters/${encodeURIComponent(id)}/replay`, { method: "POST", auth: true });
    say(message, `Replaying ${id}: it is queued for delivery again.`, "ok");
    tokens = [""];
    load();
  } catch (err) {
    say(message, `Could not replay ${id}: ${err.message}`, "error");
  }
}
