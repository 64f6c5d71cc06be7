/* knn-al labeling page: plain JavaScript modules over the HTTP/JSON API (/api/v1), no build step.
 * This module: the labeling loop (queue, actions), the keyboard.
 * Beside it: api.js (calls), ui.js (DOM helpers), item.js (the item on screen),
 * progress.js (progress, curve, banner), review.js (tabs and review views),
 * session.js (project, annotator and token; the leases of the items held).
 *
 * Keyboard (on the Label tab, focus outside a text field):
 *   1-9    label the item with the n-th label button
 *   Enter  accept the predicted (pre-selected) label
 *   n      type a new label (open label sets; Enter submits, Esc goes back)
 *   s      skip the item            u  undo the last label (the item comes back, leased;
 *                                      refused if someone relabeled it since)
 *   m      "more like this" search  z  zoom the image (Esc closes)
 *   ?      show / hide the score breakdown
 *   Esc    focus back on the item
 * Tabs: arrow keys, Home and End move between them (the WAI-ARIA tabs pattern).
 *
 * Speed: one item is kept leased ahead of the one on screen, so a key press paints the next
 * item at once; the label is sent (and the queue refilled) while the next item is shown.
 * Performance marks, for the benchmark (read with performance.getEntriesByName):
 *   "knn-al:key"          at the key press (or click) that labels, skips or undoes an item
 *   "knn-al:paint"        once the item shown next has been painted (a task queued from the
 *                         animation frame that rendered it; images: after they are decoded)
 *   "knn-al:key-to-paint" a measure between the two
 * Each carries detail {id, prefetched}: the painted item, and whether it had arrived before
 * the key press (false when the page had to wait for the server, as after an undo).
 * <body data-pending="N">: API calls in flight (0 when the page is idle).
 */
import { conn, contentOf, post } from "./api.js";
import { renderItem, renderLabels, renderNothing, renderPrediction, renderScore, renderWhy, zoom } from "./item.js";
import { resetProgress, showProgress } from "./progress.js";
import { allowTextSearch, currentView, initReview, moreLikeThis, selectView } from "./review.js";
import { initSession } from "./session.js";
import { $, clearError, el, say, showError } from "./ui.js";

const PREFETCH = 1;  // items kept leased beyond the one on screen

const S = {
  info: null,                 // ProjectInfo
  labels: [],                 // the label buttons, in order
  current: null,              // the entry on screen
  queue: [],                  // entries leased ahead
  asking: 0,                  // items asked for by next calls in flight
  exhausted: false,           // the last next call handed out nothing
  history: [],                // [{id, label}] labels of this session, for undo
  given: 0,                   // labels given in this session
  progress: null,
  writes: Promise.resolve(),  // mutating calls run one after another, in key order
  keyPending: null,           // the time of a key press awaiting the paint of the next item
  active: false,
};

/** Runs fn after every mutating call queued before it (labels, skips, undos, refills). */
function write(fn) {
  const run = S.writes.then(fn);
  S.writes = run.catch(() => {});
  return run.catch(showError);
}

// ------------------------------------------------------------------ entries and the queue
/** An item to label, leased to the annotator: a next sample, or an item record brought back by an undo. */
function entry(record, { undone = false } = {}) {
  const e = { id: record.id, metadata: record.metadata, media: record.media, leased: true, undone,
              predicted: record.predicted_label || "", confidence: record.confidence || 0,
              probabilities: record.probabilities || {}, score: record.score || null,
              neighbors: record.neighbors || [], content: null, arrived: performance.now() };
  // The content (an image's bytes too) is fetched now, so showing the entry later is instant.
  e.loading = contentOf(e.metadata, e.media).then((c) => { e.content = c; return c; },
    (err) => { e.content = { kind: "text", text: `(the item cannot be shown: ${err.message})` }; return e.content; });
  return e;
}

function held() { return [S.current, ...S.queue].filter((e) => e && e.leased).map((e) => e.id); }

/** Ask for as many items as the queue lacks (the call queued behind the labels sent). */
function refill() {
  const want = (S.current ? 0 : 1) + PREFETCH - S.queue.length - S.asking;
  if (want <= 0 || !S.active) return Promise.resolve();
  S.asking += want;
  return write(async () => {
    try {
      const r = await post("/next", { count: want, annotator: conn.annotator, explain: true });
      const have = new Set([S.current && S.current.id, ...S.queue.map((e) => e.id)]);
      S.queue.push(...r.samples.filter((s) => !have.has(s.id)).map((s) => entry(s)));
      S.exhausted = r.samples.length === 0;
      onProgress(r.progress);
    } finally {
      S.asking -= want;
    }
    if (!S.current) advance();
  });
}

/** Show the next queued item (or wait for one). */
function advance() {
  const next = S.queue.shift();
  if (next) show(next); else showNothing();
}

function markKey(id) {
  S.keyPending = performance.mark("knn-al:key", { detail: { id } }).startTime;
}

function markPaint(e) {
  if (S.keyPending === null) return;
  // prefetched: the item was here before the key was pressed (no call between key and paint).
  const detail = { id: e.id, prefetched: e.arrived < S.keyPending };
  S.keyPending = null;
  const img = $("item-body").querySelector("img");
  (img ? img.decode().catch(() => {}) : Promise.resolve()).then(() => requestAnimationFrame(() => setTimeout(() => {
    performance.mark("knn-al:paint", { detail });
    performance.measure("knn-al:key-to-paint", { start: "knn-al:key", end: "knn-al:paint", detail });
  }, 0)));
}

// ------------------------------------------------------------------ the item on screen
function show(e) {
  S.current = e;
  renderItem(e, { isCurrent: (x) => S.current === x, painted: markPaint });
  drawLabels();
}

function showNothing() {
  S.current = null;
  if (!S.exhausted) renderNothing("Waiting for the next item…", "");
  else if (S.progress && S.progress.stop_reason) renderNothing("Nothing to label", "No more items are handed out: see the banner above.");
  else {
    renderNothing("Nothing to label", "No item is free right now (others hold the rest, or only outliers are left).",
                  el("button", { type: "button", text: "Ask again", onclick: () => { S.exhausted = false; refill(); } }));
  }
  drawLabels();
}

function drawLabels() {
  renderLabels(S.labels, { predicted: S.current ? S.current.predicted : "", enabled: !!S.current,
                           fixed: isFixed(), onLabel: labelCurrent });
}

function isFixed() { return !!(S.info && S.info.settings && S.info.settings.labels.length); }

function addLabel(label) {
  if (!S.labels.includes(label)) { S.labels.push(label); drawLabels(); }
}

function focusItem() { $("item-card").focus({ preventScroll: true }); }

function onProgress(p) {
  if (!p) return;
  S.progress = p;
  showProgress(p, { given: S.given, poolSize: S.info ? S.info.pool_size : 0 });
  const option = $("project").selectedOptions[0];
  if (option && option.value === conn.project && S.info) {
    option.textContent = `${conn.project} (${p.estimate.labeled} of ${S.info.pool_size} labeled)`;
  }
}

// ------------------------------------------------------------------ actions
function labelCurrent(label) {
  const e = S.current;
  if (!e || !label) return;
  markKey(e.id);
  S.history.push({ id: e.id, label });
  $("undo").disabled = false;
  advance();
  focusItem();
  write(async () => {
    try {
      const r = await post("/labels", { labels: { [e.id]: label }, annotator: conn.annotator });
      S.given += 1;
      addLabel(label);
      const more = r.propagated_ids.length ? ` (and ${r.propagated_ids.length} duplicates)` : "";
      say(`Labeled ${e.id} as ${label}${more}.`);
      onProgress(r.progress);
      if (S.current) refreshPrediction(S.current);
    } catch (err) {
      S.history = S.history.filter((h) => h.id !== e.id);
      $("undo").disabled = !S.history.length;
      restore(e);
      throw err;
    }
  });
  refill();
}

/** An item whose label or skip was refused comes back on screen (the error says why). */
function restore(e) {
  if (S.current) S.queue.unshift(S.current);
  show(e);
}

function acceptPrediction() {
  if (S.current && S.current.predicted) labelCurrent(S.current.predicted);
  else if (S.current) say("No prediction to accept yet: press 1-9 or type a label (n).");
}

function skipCurrent() {
  const e = S.current;
  if (!e) return;
  markKey(e.id);
  advance();
  focusItem();
  write(async () => {
    try {
      const r = await post("/skip", { ids: [e.id], annotator: conn.annotator });
      say(`Skipped ${e.id}: it will not be handed out again until unskipped.`);
      onProgress(r.progress);
    } catch (err) {
      restore(e);
      throw err;
    }
  });
  refill();
}

/** Take back the label `label` of item `id` (the last one given here, with the u key, or one
 * listed by the recent-labels view): the server removes it only if it is still that label,
 * and leases the item to the annotator in the same commit, so no one else is handed it
 * meanwhile (the freed label pays for the lease). The item comes back on screen; the one
 * shown goes back to the front of the queue. Refused (someone relabeled it since): nothing
 * changes, and the server's message says why. Resolves to true once undone. */
function takeBack(id, label, { key = false } = {}) {
  const mine = S.history.some((h) => h.id === id);
  S.history = S.history.filter((h) => h.id !== id);
  $("undo").disabled = !S.history.length;
  if (key) markKey(id);
  return write(async () => {
    let r;
    try {
      r = await post("/labels/undo", { id, label, annotator: conn.annotator });
    } catch (err) {
      S.keyPending = null;
      say(`Not undone: ${id} keeps the label it has now.`);
      throw err;
    }
    if (mine) S.given -= 1;
    onProgress(r.progress);
    const got = await post("/items/get", { ids: [id] });
    const e = entry(got.items[0], { undone: true });
    if (S.current) S.queue.unshift(S.current);
    show(e);
    if (currentView() === "label") focusItem();
    say(`Undone: ${id} was labeled ${label}. Label it again.`);
    refreshPrediction(e);
    return true;
  });
}

function undo() {
  const last = S.history[S.history.length - 1];
  if (last) takeBack(last.id, last.label, { key: true }); else say("Nothing to undo in this session.");
}

/** The prediction and its neighbours change with every label: ask again for the item on screen. */
async function refreshPrediction(e) {
  try {
    const r = await post("/predict", { ids: [e.id], explain: true });
    const p = r.predictions[0];
    Object.assign(e, { predicted: p.label, confidence: p.confidence, probabilities: p.probabilities,
                       neighbors: p.neighbors || [] });
    if (S.current === e) { renderPrediction(e); renderWhy(e); renderScore(e); drawLabels(); }
  } catch (err) {
    showError(err);
  }
}

/** A label given from a review view: the item leaves the queue if it was there. */
async function labelItem(id, label) {
  const r = await post("/labels", { labels: { [id]: label }, annotator: conn.annotator });
  addLabel(label);
  S.queue = S.queue.filter((e) => e.id !== id);
  if (S.current && S.current.id === id) advance();
  onProgress(r.progress);
  say(`Labeled ${id} as ${label}.`);
  refill();
}

// ------------------------------------------------------------------ the session's view of the loop
function setInfo(info) {
  S.info = info;
  const s = info.settings || { labels: [] };
  if (isFixed()) S.labels = s.labels.slice();
  else for (const l of Object.keys(info.label_counts)) if (!S.labels.includes(l)) S.labels.push(l);
  drawLabels();
  allowTextSearch(info.settings);
}

const session = {
  active: () => S.active,
  settled: () => S.writes,
  held,
  reset() {
    Object.assign(S, { info: null, labels: [], current: null, queue: [], asking: 0, exhausted: false, history: [],
                       given: 0, progress: null, keyPending: null, active: false });
    resetProgress();
  },
  async begin(info) {
    setInfo(info);
    S.active = true;
    $("undo").disabled = true;
    selectView("label");
    showNothing();
    await refill();
    focusItem();
  },
  setInfo,
  lost(id) {
    S.queue = S.queue.filter((e) => e.id !== id);
    if (S.current && S.current.id === id) {
      S.current.leased = false;
      say(`The lease of ${id} was lost; your label is still accepted.`);
    }
  },
  refill,
};

// ------------------------------------------------------------------ wiring
function onKey(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t.closest("#new-label-form") && ev.key === "Escape") { ev.preventDefault(); focusItem(); return; }
  if (t.matches("input, textarea, select, [contenteditable]") || $("zoom").open) return;
  if (currentView() !== "label" || !S.active) return;
  if (/^[1-9]$/.test(ev.key)) {
    const label = S.labels[Number(ev.key) - 1];
    if (label && S.current) { ev.preventDefault(); labelCurrent(label); }
    return;
  }
  const act = {
    // Enter on a button (or the image) is that button's: the item card has the focus otherwise.
    Enter: () => { if (t.matches("button, a, summary, [tabindex='0']")) return false; acceptPrediction(); },
    s: skipCurrent, u: undo, z: () => zoom(S.current), Escape: focusItem,
    m: () => { if (S.current) moreLikeThis(S.current.id); },
    n: () => { if (isFixed()) return false; $("new-label").focus(); },
    "?": () => { $("score-details").open = !$("score-details").open; },
  }[ev.key];
  if (act && act() !== false) ev.preventDefault();
}

function init() {
  $("error-close").addEventListener("click", clearError);
  $("skip").addEventListener("click", skipCurrent);
  $("undo").addEventListener("click", undo);
  $("more-like").addEventListener("click", () => { if (S.current) moreLikeThis(S.current.id); });
  $("new-label-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const label = $("new-label").value.trim();
    $("new-label").value = "";
    if (label) labelCurrent(label);
  });
  initReview({ labels: () => S.labels, fixed: isFixed, labelItem, undoLabel: takeBack });
  document.addEventListener("keydown", onKey);
  resetProgress();
  initSession(session);
}

init();
