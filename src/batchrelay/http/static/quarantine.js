// Quarantine: inputs that could not be decoded or parsed, kept byte for byte.
import {
  api, decodeRaw, fill, fmtInt, fmtTime, h, qs, say, showText, startPage, table,
} from "./common.js";

const main = startPage();
const message = h("p", { role: "status", class: "message" });
const body = h("div");
const pager = h("nav", { class: "pager", "aria-label": "Pages" });
main.append(message, body, pager);
let tokens = [""];
load();

async function load() {
  const token = tokens[tokens.length - 1];
  try {
    const page = await api(`/api/v1/quarantine${qs({ max_results: 50, next_token: token })}`);
    if (!page.quarantine.length) fill(body, h("p", {}, "Nothing in quarantine."));
    else {
      const [t, tbody] = table("Quarantined inputs, newest first",
        ["Id", "Ingress", "Reason", "Detail", "Size", "Received", ""], { id: "quarantine-table" });
      fill(tbody, page.quarantine.map((q) => h("tr", {},
        h("th", { scope: "row" }, String(q.id)), h("td", {}, q.ingress), h("td", {}, q.reason),
        h("td", { class: "msg" }, q.detail), h("td", { class: "num" }, fmtInt(q.size)),
        h("td", {}, fmtTime(q.received_at)),
        h("td", {}, h("button", { type: "button", class: "secondary small",
          "aria-label": `Inspect quarantined input ${q.id}`,
          onclick: () => showText(`Quarantined input ${q.id}`,
            `${JSON.stringify(q.headers, null, 2)}\n\n${decodeRaw(q.raw_base64)}`) }, "Inspect")))));
      fill(body, h("div", { class: "scroll" }, t));
    }
    fill(pager,
      h("button", { type: "button", class: "secondary", disabled: tokens.length < 2,
        onclick: () => { tokens.pop(); load(); } }, "← Newer"),
      h("button", { type: "button", class: "secondary", disabled: !page.next_token,
        onclick: () => { tokens.push(page.next_token); load(); } }, "Older →"));
  } catch (err) {
    say(message, `Could not list the quarantine: ${err.message}`, "error");
  }
}
