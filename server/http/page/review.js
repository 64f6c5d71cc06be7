/* The tabs, and the review views beside the labeling loop: search ("more like this" by text
 * or item id), recent labels (with undo), suspicious labels, duplicate groups, outliers.
 * Every listed item can be labeled (or relabeled) from its row. */
import { api, conn, post, proj } from "./api.js";
import { $, el, pct, preview, say, showError } from "./ui.js";

const LIMIT = 50;

/** What the views need of the labeling loop (app.js): the label set, labeling, and undo
 * (resolves to true once undone; a refusal is shown there). */
let loop = {
  labels: () => [], fixed: () => false,
  labelItem: async (id, label) => {}, undoLabel: async (id, label) => false,
};
let view = "label";

export const currentView = () => view;

/** A form to label an item from a list: a choice of the fixed set, or a text box with suggestions. */
function labelForm(id, preset) {
  const field = loop.fixed()
    ? el("select", { "aria-label": `label for ${id}` }, ...loop.labels().map((l) => el("option", { value: l, text: l })))
    : el("input", { type: "text", list: "known-labels", "aria-label": `label for ${id}`, maxlength: "256" });
  if (preset) field.value = preset;
  const form = el("form", { class: "row-label" }, field, el("button", { type: "submit", text: "Label" }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const label = field.value.trim();
    if (!label) { say("Type a label first."); field.focus(); return; }
    try { await loop.labelItem(id, label); } catch (err) { showError(err); }
  });
  return form;
}

function row(id, metadata, media, facts, ...controls) {
  return el("li", { class: "row" }, preview(metadata, media),
            el("p", { class: "facts" }, el("strong", { text: id }), el("span", { text: facts })),
            el("div", { class: "row-controls" }, ...controls));
}

/** Undo the label listed (only if it is still the item's label: the list may be stale). The
 * item comes back to the annotator, leased, on the Label tab. */
function undoButton(id, label) {
  return el("button", { type: "button", text: "Undo", onclick: async (ev) => {
    const listed = ev.target.closest("li");
    if (await loop.undoLabel(id, label)) listed.remove();
  } });
}

const views = {
  async recent() {
    const q = new URLSearchParams({ limit: LIMIT });
    if ($("recent-mine").checked) q.set("annotator", conn.annotator);
    const r = await api("GET", proj(`/recent?${q}`));
    return r.labels.map((l) => row(l.id, l.metadata, null,
      ` ${l.label} · by ${l.annotator || "(no name)"} · ${new Date(l.time * 1000).toLocaleTimeString()}`,
      undoButton(l.id, l.label), labelForm(l.id, l.label)));
  },
  async suspicious() {
    const r = await api("GET", proj(`/suspicious?limit=${LIMIT}`));
    return r.items.map((s) => row(s.id, s.metadata, s.media,
      ` labeled ${s.label} by ${s.annotator || "(no name)"}; its neighbours say ${s.predicted_label} (${pct(s.confidence)})`,
      labelForm(s.id, s.predicted_label)));
  },
  async duplicates() {
    const r = await api("GET", proj(`/duplicates?limit=${LIMIT}`));
    return r.groups.map((g) => row(g.ids[0], (g.metadata || [])[0], null,
      ` ${g.ids.length} items: ${g.ids.slice(0, 6).join(", ")}${g.ids.length > 6 ? ", …" : ""}`
      + (g.label ? ` · labeled ${g.label}` : " · unlabeled"),
      labelForm(g.ids[0], g.label)));
  },
  async outliers() {
    const r = await api("GET", proj(`/outliers?limit=${LIMIT}`));
    return r.outliers.map((o) => row(o.id, o.metadata, o.media, ` density ${o.density.toFixed(3)}`, labelForm(o.id, "")));
  },
  async search() {
    const query = $("search-query").value.trim();
    if (!query) return [el("li", { class: "hint", text: "Type a text or an item id, then Search." })];
    const body = { limit: 20, unlabeled_only: $("search-unlabeled").checked };
    body[$("search-by").value] = query;
    const r = await post("/search", body);
    if (!r.hits.length) return [el("li", { class: "hint", text: "No match." })];
    return r.hits.map((h) => row(h.id, h.metadata, h.media,
      ` similarity ${h.similarity.toFixed(2)} · ${h.state}${h.label ? ` · ${h.label}` : ""}`, labelForm(h.id, h.label)));
  },
};

export async function loadView(name) {
  if (!views[name]) return;
  const list = $(name === "search" ? "search-results" : `${name}-list`);
  if (!conn.project) { list.replaceChildren(el("li", { class: "hint", text: "Start with a project first." })); return; }
  list.setAttribute("aria-busy", "true");
  try {
    const rows = await views[name]();
    list.replaceChildren(...(rows.length ? rows : [el("li", { class: "hint", text: "Nothing here." })]));
  } catch (err) {
    showError(err);
  } finally {
    list.removeAttribute("aria-busy");
  }
}

export function selectView(name, { focus = false } = {}) {
  view = name;
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    if (on && focus) tab.focus();
    $(`view-${tab.dataset.view}`).hidden = !on;
  }
  if (name !== "search") loadView(name);
}

/** The search view, listing the items most like `id`. */
export function moreLikeThis(id) {
  $("search-by").value = "id";
  $("search-query").value = id;
  selectView("search", { focus: true });
  loadView("search");
}

/** Text search only where the project embeds texts (an encoder that is not an image one). */
export function allowTextSearch(settings) {
  const text = !!(settings && settings.encoder) && !/^mobilenet/.test(settings.encoder);
  $("search-by").querySelector('option[value="text"]').disabled = !text;
  if (!text) $("search-by").value = "id";
}

/** Arrow keys, Home and End move between the tabs (the WAI-ARIA tabs pattern). */
function onTabKey(ev) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const i = tabs.indexOf(ev.target);
  const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
  if (to === undefined) return;
  ev.preventDefault();
  selectView(tabs[(to + tabs.length) % tabs.length].dataset.view, { focus: true });
}

export function initReview(labelingLoop) {
  loop = labelingLoop;
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => selectView(tab.dataset.view));
    tab.addEventListener("keydown", onTabKey);
  }
  for (const b of document.querySelectorAll("button.refresh")) b.addEventListener("click", () => loadView(b.dataset.view));
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadView("search"); });
  $("recent-mine").addEventListener("change", () => loadView("recent"));
}
