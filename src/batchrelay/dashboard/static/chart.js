// A small line chart drawn as inline SVG: time on x, counts on y, one line per series.
import { fmtInt, fmtTime, h, s } from "./common.js";

const W = 720, H = 240, PAD = { left: 56, right: 16, top: 12, bottom: 32 };

/**
 * series: [{name, cls, values: [number|null per point]}]; times: ISO strings.
 * Returns a <figure> with the SVG, its legend and a text summary for screen readers.
 */
export function lineChart(title, times, series) {
  const xs = times.map((t) => Date.parse(t));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const yMax = Math.max(1, ...series.flatMap((se) => se.values.filter((v) => v !== null)));
  const x = (t) => PAD.left + (x1 === x0 ? 0.5 : (t - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = Math.round(yMax * f);
    return s("g", { class: "tick" },
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, fmtInt(v)));
  });
  const axis = [
    s("text", { x: PAD.left, y: H - 8, "text-anchor": "start" }, fmtTime(times[0])),
    s("text", { x: W - PAD.right, y: H - 8, "text-anchor": "end" }, fmtTime(times[times.length - 1])),
  ];
  const lines = series.map((se) => {
    const points = se.values
      .map((v, i) => (v === null ? null : `${x(xs[i]).toFixed(1)},${y(v).toFixed(1)}`))
      .filter(Boolean).join(" ");
    return s("polyline", { class: `series ${se.cls}`, points }, s("title", {}, se.name));
  });
  const last = series.map((se) => `${se.name} ${fmtInt(se.values[se.values.length - 1] ?? 0)}`);
  const summary = `${title}: ${times.length} points from ${fmtTime(times[0])} to `
    + `${fmtTime(times[times.length - 1])}; at the end ${last.join(", ")}.`;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": summary },
  s("title", {}, summary), grid, axis, lines);
  const legend = h("ul", { class: "legend" },
    series.map((se) => h("li", {}, h("span", { class: `swatch ${se.cls}`, "aria-hidden": "true" }),
      se.name)));
  return h("figure", { class: "chart-figure" }, svg, h("figcaption", {}, legend));
}
