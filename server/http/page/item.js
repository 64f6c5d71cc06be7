/* Rendering the item on screen: its text or image (with zoom), the prediction, the label
 * buttons, the "why" neighbours and the score breakdown. No state: app.js passes it in. */
import { $, el, pct, preview } from "./ui.js";

/** Paint the item `e` (an entry of app.js); `painted(e)` runs once its content is in the page. */
export function renderItem(e, { isCurrent, painted }) {
  $("item-heading").textContent = `Item ${e.id}` + (e.undone ? " (back from undo)" : "");
  const body = $("item-body");
  body.replaceChildren(el("p", { class: "loading", text: "Loading…" }));
  const paint = (c) => {
    if (!isCurrent(e)) return;
    if (c.kind === "image") {
      body.replaceChildren(el("img", {
        class: "item-image", src: c.url, alt: `item ${e.id}`, tabindex: "0", title: "Click (or z) to zoom",
        onclick: () => zoom(e),
        onkeydown: (ev) => { if (ev.key === "Enter") { ev.preventDefault(); ev.stopPropagation(); zoom(e); } } }));
    } else {
      body.replaceChildren(...c.text.split(/\n{2,}/).map((para) => el("p", { text: para })));
    }
    painted(e);
  };
  if (e.content) paint(e.content); else e.loading.then(paint);
  renderPrediction(e);
  renderWhy(e);
  renderScore(e);
  for (const id of ["skip", "more-like"]) $(id).disabled = false;
}

/** No item on screen: `heading`, an explanation, and an optional action button. */
export function renderNothing(heading, text, action) {
  $("item-heading").textContent = heading;
  $("item-body").replaceChildren(el("p", { text }), action || "");
  $("prediction").textContent = "";
  $("why").replaceChildren();
  $("score-body").replaceChildren();
  for (const id of ["skip", "more-like"]) $(id).disabled = true;
}

export function renderPrediction(e) {
  $("prediction").textContent = e.predicted
    ? `Predicted: ${e.predicted} (${pct(e.confidence)} confident). Enter accepts it.`
    : "No prediction yet: give the first labels.";
}

/** The label buttons (1-9 their keys), the predicted one marked; the new-label box for open sets. */
export function renderLabels(labels, { predicted, enabled, fixed, onLabel }) {
  const box = $("labels");
  box.replaceChildren(...labels.map((label, i) => {
    const key = i < 9 ? String(i + 1) : "";
    const b = el("button", { type: "button", class: "label-button" + (label === predicted ? " predicted" : ""),
                             "data-label": label, onclick: () => onLabel(label) },
                 key ? el("kbd", { text: key }) : null, el("span", { text: label }));
    if (label === predicted) b.setAttribute("aria-describedby", "prediction");
    if (key) b.setAttribute("aria-keyshortcuts", key);
    b.disabled = !enabled;
    return b;
  }));
  if (!labels.length) box.append(el("p", { class: "hint", text: "No labels yet: type the first one (n)." }));
  $("known-labels").replaceChildren(...labels.map((l) => el("option", { value: l })));
  $("new-label-form").hidden = fixed;
}

/** The labeled neighbours behind the prediction: label, similarity, text snippet or thumbnail. */
export function renderWhy(e) {
  const list = $("why");
  if (!e.neighbors.length) {
    list.replaceChildren(el("li", { class: "hint", text: "No labeled neighbours yet." }));
    return;
  }
  list.replaceChildren(...e.neighbors.map((n) => el("li", {},
    el("p", { class: "why-head" }, el("strong", { text: n.label }),
       el("span", { class: "sim", text: ` similarity ${n.similarity.toFixed(2)}` })),
    preview(n.metadata, n.media, 140))));
}

/** Why the strategy picked the item (each term's value and its rank among the candidates),
 * and the class probabilities. */
export function renderScore(e) {
  const num = (v) => (typeof v === "number" ? v.toFixed(3) : "–");
  const s = e.score;
  const probs = Object.entries(e.probabilities).sort((a, b) => b[1] - a[1]).slice(0, 5);
  $("score-body").replaceChildren(
    s ? el("p", { text: `Picked with score ${num(s.score)}: the product of its ranks among the candidates.` })
      : el("p", { text: "This item was not picked by the strategy (it came back from an undo)." }),
    s ? el("table", { "aria-label": "score terms" },
      el("tr", {}, el("td"), el("th", { scope: "col", text: "value" }), el("th", { scope: "col", text: "rank" })),
      ...["uncertainty", "density", "diversity"].map((k) => el("tr", {}, el("th", { scope: "row", text: k }),
        el("td", { text: num(s[k]) }), el("td", { text: num(s[`${k}_term`]) })))) : "",
    probs.length ? el("table", {}, el("caption", { text: "Class probabilities" }),
      ...probs.map(([k, v]) => el("tr", {}, el("th", { scope: "row", text: k }), el("td", { text: pct(v) })))) : "");
}

/** The image of `e`, large, in a modal dialog (Esc closes it). */
export function zoom(e) {
  if (!e || !e.content || e.content.kind !== "image") return;
  $("zoom-img").src = e.content.url;
  $("zoom-img").alt = `item ${e.id}, zoomed`;
  $("zoom").showModal();
}
