// The overview at the top of every page (the shell loads this module on each): running,
// failed and suspended batches, alerts firing, dead letters, recent quarantine, ingest rate.
import { api, fill, fmtInt, fmtRate, h } from "./common.js";

const OVERVIEW_EVERY_MS = 5000;

/** The figures at the top of every page, each a link to its list; refreshed every 5 s. */
export function startOverview() {
  const bar = document.getElementById("overview");
  if (!bar) return;
  const load = async () => {
    try {
      renderOverview(bar, await api("/api/v1/overview"));
    } catch {
      bar.dataset.state = "stale"; // keep the last figures; the live badge says the rest
    }
  };
  load();
  setInterval(load, OVERVIEW_EVERY_MS);
}

function renderOverview(bar, o) {
  const rate = o.ingest.per_second;
  const item = (name, n, href, text, icon, alarm) => h("li", {},
    h("a", { href, class: `figure${alarm && n ? " alarm" : ""}`, "data-figure": name },
      h("span", { class: "icon", "aria-hidden": "true" }, icon),
      h("strong", {}, typeof n === "number" ? fmtInt(n) : n), ` ${text}`));
  fill(bar, h("ul", {},
    item("running", o.running, "/?State=running", "running", "▶", false),
    item("failed", o.failed, "/?State=failed", "failed", "✕", true),
    item("suspended", o.suspended, "/?State=suspended", "suspended", "‖", true),
    item("alerts", o.alerts_firing, "/alerts?state=firing", "alerts firing", "!", true),
    item("deadletters", o.dead_letters, "/deadletters", "dead letters", "✉", true),
    item("quarantined", o.quarantined, "/quarantine", "quarantined in 1 h", "⚠", true),
    item("ingest", `${o.ingest.at_least ? "≥ " : ""}${fmtRate(rate) === "—" ? "0/s" : fmtRate(rate)}`,
      "/?Sort=UpdateTime", "ingest", "⇣", false)));
  bar.dataset.state = "fresh";
  bar.dataset.time = o.time;
}

startOverview();
