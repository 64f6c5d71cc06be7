/* Progress: labels given, budget left, the accuracy estimate with its interval, a small SVG
 * learning curve of that estimate over this session, and the stop banner. */
import { $, el, pct } from "./ui.js";

let curve = [];  // [{n, acc, low, high}]: the estimate at each labeled count seen in this session

export function resetProgress() {
  curve = [];
  $("progress").replaceChildren();
  $("banner").hidden = true;
  drawCurve(0);
}

/** Show `p` (a Progress of the API); `given`: labels of this session, `poolSize` of the project. */
export function showProgress(p, { given, poolSize }) {
  const est = p.estimate;
  const known = est.accuracy !== null && est.accuracy !== undefined;
  if (known) {
    const point = { n: est.labeled, acc: est.accuracy, low: est.low, high: est.high };
    const last = curve[curve.length - 1];
    if (last && last.n === point.n) curve[curve.length - 1] = point; else curve.push(point);
  }
  const rows = [
    ["Labels given (this session)", String(given)],
    ["Labeled in the project", `${est.labeled} of ${poolSize}`],
    ["Budget left", p.budget_left === null || p.budget_left === undefined ? "no budget" : `${p.budget_left} of ${p.label_budget}`],
    ["Accuracy estimate", known ? `${pct(est.accuracy)} (95% interval ${pct(est.low)}–${pct(est.high)})` : "not yet (needs labels)"],
  ];
  if (p.target_accuracy > 0) rows.push(["Target", pct(p.target_accuracy)]);
  $("progress").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  drawCurve(p.target_accuracy);
  banner(p);
}

function banner(p) {
  const b = $("banner");
  const texts = {
    budget_reached: `Label budget spent: ${p.label_budget} labels given or in hand; no more items are handed out.`,
    target_reached: `Target reached: the accuracy estimate's lower bound is ${pct(p.estimate.low)}, `
                    + `at or above the target ${pct(p.target_accuracy)}. You can stop here.`,
    pool_exhausted: "Pool exhausted: every item has a label.",
  };
  const text = texts[p.stop_reason] || "";
  if (b.textContent !== text) b.textContent = text;  // unchanged: not announced again
  b.dataset.reason = p.stop_reason;
  b.hidden = !text;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

/** The estimate (line) and its interval (band) against the labeled count; the target dashed. */
function drawCurve(target) {
  const W = 240, H = 100, pad = 6, left = 26;  // left: room for the axis labels
  const ns = curve.map((q) => q.n);
  const n0 = Math.min(...ns), n1 = Math.max(...ns);
  const x = (n) => left + (n1 > n0 ? (n - n0) / (n1 - n0) : 0.5) * (W - pad - left);
  const y = (v) => H - pad - v * (H - 2 * pad);
  const parts = [svg("rect", { x: 0, y: 0, width: W, height: H, class: "curve-bg" })];
  for (const v of [0.5, 1]) {
    parts.push(svg("line", { x1: left - 2, x2: W - pad, y1: y(v), y2: y(v), class: "grid" }),
               svg("text", { x: pad, y: y(v) + 3, class: "axis" }, pct(v)));
  }
  if (target > 0) parts.push(svg("line", { x1: left - 2, x2: W - pad, y1: y(target), y2: y(target), class: "target" }));
  if (curve.length) {
    const band = curve.map((q) => `${x(q.n)},${y(q.high)}`).concat(curve.slice().reverse().map((q) => `${x(q.n)},${y(q.low)}`));
    const last = curve[curve.length - 1];
    parts.push(svg("polygon", { points: band.join(" "), class: "band" }),
               svg("polyline", { points: curve.map((q) => `${x(q.n)},${y(q.acc)}`).join(" "), class: "line" }),
               svg("circle", { cx: x(last.n), cy: y(last.acc), r: 2.5, class: "dot" }));
  }
  $("curve").replaceChildren(...parts);
  const first = curve[0], last = curve[curve.length - 1];
  $("curve-caption").textContent = last
    ? `Accuracy estimate over this session: ${pct(first.acc)} at ${first.n} labels, ${pct(last.acc)} at ${last.n}`
      + (target > 0 ? ` (target ${pct(target)}, dashed)` : "")
    : "Accuracy estimate over this session: none yet";
}
