// A small line chart drawn as inline SVG: time on x, counts on y, one line per series.
import { fmtInt, fmtTime, h, s } from "./common.js";

const H = 240, PAD = { left: 56, right: 16, top: 12, bottom: 32 };

/**
 * series: [{name, cls, values: [number|null per point]}]; times: ISO strings; width in px.
 * Returns a <figure> with the SVG, its legend and a text summary for screen readers.
 */
export function lineChart(title, times, series, { width = 720 } = {}) {
  const W = width; // drawn at the width it is shown at, so text keeps its size
  const xs = times.map((t) => Date.parse(t));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const yMax = niceCeiling(Math.max(1, ...series.flatMap((se) => se.values.filter((v) => v !== null))));
  const x = (t) => PAD.left + (x1 === x0 ? 0.5 : (t - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  const grid = [0, 0.2, 0.4, 0.6, 0.8, 1].map((f) => {
    const v = yMax * f;
    return s("g", { class: "tick" },
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" },
        v >= 10 || v === 0 ? fmtInt(Math.round(v)) : v.toFixed(1)));
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
  const last = series.map((se) => `${se.name} ${fmtNum(se.values[se.values.length - 1] ?? 0)}`);
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

/** 1, 2, 5 or 10 times a power of ten, at least v: round grid lines at fifths. */
function niceCeiling(v) {
  const power = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * power).find((c) => c >= v);
}

function fmtNum(v) {
  return Number.isInteger(v) ? fmtInt(v) : v.toFixed(1);
}
