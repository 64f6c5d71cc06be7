/* knn-al labeling page: plain JavaScript over the HTTP/JSON API (/api/v1), no build step.
 *
 * Keyboard (on the Label tab, focus outside a text field):
 *   1-9    label the item with the n-th label button
 *   Enter  accept the predicted (pre-selected) label
 *   n      type a new label (open label sets; Enter submits, Esc goes back)
 *   s      skip the item            u  undo the last label (the item comes back)
 *   m      "more like this" search  z  zoom the image (Esc closes)
 *   ?      show / hide the score breakdown
 * Tabs: arrow keys move between them (the WAI-ARIA tabs pattern).
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
 *
 * Leases: the items held (on screen and queued) are renewed every lease_seconds / 3 and
 * released with a keepalive fetch when the page is hidden for good (pagehide).
 * Stored in localStorage: knn-al.project, knn-al.annotator, knn-al.token.
 * <body data-pending="N">: API calls in flight (0 when the page is idle), for tests.
 * Data from the server is only ever inserted as text (textContent), never as HTML.
 */
"use strict";

(() => {
  const API = new URL("api/v1", document.baseURI).pathname;
  const PREFETCH = 1;           // items kept leased beyond the one on screen
  const REVIEW_LIMIT = 50;
  const SNIPPET = 220;          // characters of a text shown in lists (140 beside the item)
  const $ = (id) => document.getElementById(id);

  const S = {
    project: "", annotator: "", token: "",
    info: null,                 // ProjectInfo
    labels: [],                 // the label buttons, in order
    current: null,              // the entry on screen
    queue: [],                  // entries leased ahead
    asking: 0,                  // items asked for by next calls in flight
    exhausted: false,           // the last next call handed out nothing
    history: [],                // [{id, label}] labels of this session, for undo
    given: 0,                   // labels given in this session
    curve: [],                  // [{n, acc, low, high}] the estimate over this session
    progress: null,
    writes: Promise.resolve(),  // mutating calls run one after another, in key order
    keyPending: null,           // the time of a key press awaiting the paint of the next item
    renewTimer: 0,
    view: "label",
    active: false,
  };

  // ------------------------------------------------------------------ API
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  function headers(json) {
    const h = { Accept: "application/json" };
    if (json) h["Content-Type"] = "application/json";
    if (S.token) h.Authorization = "Bearer " + S.token;
    return h;
  }

  /** Calls in flight, also in <body data-pending>: a test or a benchmark waits for 0. */
  let pending = 0;
  function inFlight(delta) { pending += delta; document.body.dataset.pending = String(pending); }

  async function api(method, path, body) {
    inFlight(1);
    try { return await call(method, path, body); } finally { inFlight(-1); }
  }

  async function call(method, path, body) {
    let res;
    try {
      res = await fetch(API + path, { method, headers: headers(body !== undefined),
                                      body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiError(0, "UNAVAILABLE", `the server cannot be reached (${err.message})`);
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!res.ok) {
      const e = (data && data.error) || {};
      if (res.status === 401) askForToken();
      throw new ApiError(res.status, e.code || `HTTP ${res.status}`, e.message || `${res.status} ${res.statusText}`);
    }
    return data;
  }

  const proj = (rest = "") => `/projects/${encodeURIComponent(S.project)}${rest}`;
  const post = (rest, body) => api("POST", proj(rest), body);

  /** Runs fn after every mutating call queued before it (labels, skips, undos, refills). */
  function write(fn) {
    const run = S.writes.then(fn);
    S.writes = run.catch(() => {});
    return run.catch(showError);
  }

  // ------------------------------------------------------------------ messages
  function showError(err) {
    const where = err instanceof ApiError && err.status ? ` (${err.code}, HTTP ${err.status})` : "";
    $("error-text").textContent = `${err.message}${where}`;
    $("error").hidden = false;
    if (!(err instanceof ApiError)) console.error(err);
  }
  function clearError() { $("error").hidden = true; $("error-text").textContent = ""; }
  function say(text) { $("status").textContent = text; }

  function askForToken() {
    $("token-field").hidden = false;
    say("This server needs a token: enter it, then press Reload projects or Start labeling.");
  }

  // ------------------------------------------------------------------ formatting, media
  const pct = (x) => `${(100 * x).toFixed(0)}%`;
  const snippet = (s, n = SNIPPET) => (s.length > n ? s.slice(0, n - 1) + "…" : s);
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  /** Media need the token, which an <img src> cannot send: fetched, then shown as a blob URL. */
  const mediaCache = new Map();  // url -> Promise<{kind, url?|text?}>
  function fetchMedia(url) {
    if (!mediaCache.has(url)) {
      const got = fetch(url, { headers: headers(false) }).then(async (res) => {
        if (!res.ok) throw new ApiError(res.status, `HTTP ${res.status}`, `media of the item: ${res.status} ${res.statusText}`);
        const blob = await res.blob();
        return blob.type.startsWith("image/") ? { kind: "image", url: URL.createObjectURL(blob) }
                                              : { kind: "text", text: await blob.text() };
      });
      got.catch(() => mediaCache.delete(url));
      mediaCache.set(url, got);
      if (mediaCache.size > 400) {  // forget the oldest (Map keeps insertion order)
        const [old, p] = mediaCache.entries().next().value;
        mediaCache.delete(old);
        p.then((m) => m.url && URL.revokeObjectURL(m.url), () => {});
      }
    }
    return mediaCache.get(url);
  }

  /** What to show of an item: metadata.text, else its media (image or kept text), else its source. */
  function contentOf(metadata, media) {
    const m = metadata || {};
    if (typeof m.text === "string") return Promise.resolve({ kind: "text", text: m.text });
    if (media) return fetchMedia(media);
    const source = m.source || m.path || m.image;
    return Promise.resolve({ kind: "text", text: typeof source === "string" ? source : JSON.stringify(m) });
  }

  /** A list's view of an item: a text snippet or a thumbnail. */
  function preview(metadata, media, chars = SNIPPET) {
    const box = el("div", { class: "preview" });
    contentOf(metadata, media).then((c) => {
      box.append(c.kind === "image" ? el("img", { class: "thumb", src: c.url, alt: "thumbnail" })
                                    : el("p", { class: "snippet", text: snippet(c.text, chars) }));
    }, (err) => box.append(el("p", { class: "snippet", text: `(not shown: ${err.message})` })));
    return box;
  }

  // ------------------------------------------------------------------ entries and the queue
  /** An item to label, from a next sample (leased) or an item record (not leased: an undo). */
  function entry(record, leased) {
    const e = { id: record.id, metadata: record.metadata, media: record.media, leased,
                predicted: record.predicted_label || "",
                confidence: record.confidence || 0, probabilities: record.probabilities || {},
                score: record.score || null, neighbors: record.neighbors || [], content: null,
                arrived: performance.now() };
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
        const r = await post("/next", { count: want, annotator: S.annotator, explain: true });
        const have = new Set([S.current && S.current.id, ...S.queue.map((e) => e.id)]);
        const fresh = r.samples.filter((s) => !have.has(s.id)).map((s) => entry(s, true));
        S.exhausted = r.samples.length === 0;
        S.queue.push(...fresh);
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
    if (next) show(next);
    else showNothing();
  }

  function markKey(id) {
    S.keyPending = performance.mark("knn-al:key", { detail: { id } }).startTime;
  }

  function markPaint(e) {
    if (S.keyPending === null) return;
    // prefetched: the item was here before the key was pressed (no call between key and paint).
    const detail = { id: e.id, prefetched: e.arrived < S.keyPending };
    S.keyPending = null;
    const decoded = e.content && e.content.kind === "image" ? $("item-body").querySelector("img").decode().catch(() => {})
                                                            : Promise.resolve();
    decoded.then(() => requestAnimationFrame(() => setTimeout(() => {
      performance.mark("knn-al:paint", { detail });
      performance.measure("knn-al:key-to-paint", { start: "knn-al:key", end: "knn-al:paint", detail });
    }, 0)));
  }

  // ------------------------------------------------------------------ the item on screen
  function show(e) {
    S.current = e;
    $("item-heading").textContent = `Item ${e.id}` + (e.leased ? "" : " (back from undo)");
    const body = $("item-body");
    body.replaceChildren(el("p", { class: "loading", text: "Loading…" }));
    const paint = (c) => {
      if (S.current !== e) return;
      if (c.kind === "image") {
        const img = el("img", { class: "item-image", src: c.url, alt: `item ${e.id}`, tabindex: "0",
                                title: "Click (or z) to zoom", onclick: zoom,
                                onkeydown: (ev) => { if (ev.key === "Enter") { ev.preventDefault(); ev.stopPropagation(); zoom(); } } });
        body.replaceChildren(img);
      } else {
        body.replaceChildren(...c.text.split(/\n{2,}/).map((para) => el("p", { text: para })));
      }
      markPaint(e);
    };
    if (e.content) paint(e.content); else e.loading.then(paint);
    renderPrediction();
    renderWhy();
    renderScore();
    for (const id of ["skip", "more-like"]) $(id).disabled = false;
  }

  function showNothing() {
    S.current = null;
    const reason = S.progress && S.progress.stop_reason;
    $("item-heading").textContent = S.exhausted ? "Nothing to label" : "Waiting for the next item…";
    $("item-body").replaceChildren(el("p", {
      text: S.exhausted ? (reason ? "No more items are handed out: see the banner above."
                                  : "No item is free right now (others hold the rest, or only outliers are left).")
                        : "" }));
    if (S.exhausted) {
      $("item-body").append(el("button", { type: "button", text: "Ask again", onclick: () => { S.exhausted = false; refill(); } }));
    }
    $("prediction").textContent = "";
    $("why").replaceChildren();
    $("score-body").replaceChildren();
    for (const id of ["skip", "more-like"]) $(id).disabled = true;
    renderLabels();
  }

  function renderPrediction() {
    const e = S.current;
    $("prediction").textContent = e && e.predicted
      ? `Predicted: ${e.predicted} (${pct(e.confidence)} confident). Enter accepts it.`
      : "No prediction yet: give the first labels.";
    renderLabels();
  }

  function renderLabels() {
    const box = $("labels");
    const predicted = S.current ? S.current.predicted : "";
    box.replaceChildren(...S.labels.map((label, i) => {
      const key = i < 9 ? String(i + 1) : "";
      const b = el("button", { type: "button", class: "label-button" + (label === predicted ? " predicted" : ""),
                               "data-label": label, onclick: () => labelCurrent(label) },
                   key ? el("kbd", { text: key }) : null, el("span", { text: label }));
      if (label === predicted) b.setAttribute("aria-describedby", "prediction");
      if (key) b.setAttribute("aria-keyshortcuts", key);
      b.disabled = !S.current;
      return b;
    }));
    if (!S.labels.length) box.append(el("p", { class: "hint", text: "No labels yet: type the first one (n)." }));
    $("known-labels").replaceChildren(...S.labels.map((l) => el("option", { value: l })));
    $("new-label-form").hidden = isFixed();
  }

  function renderWhy() {
    const e = S.current;
    const list = $("why");
    if (!e || !e.neighbors.length) {
      list.replaceChildren(el("li", { class: "hint", text: e ? "No labeled neighbours yet." : "" }));
      return;
    }
    list.replaceChildren(...e.neighbors.map((n) => el("li", {},
      el("p", { class: "why-head" }, el("strong", { text: n.label }),
         el("span", { class: "sim", text: ` similarity ${n.similarity.toFixed(2)}` })),
      preview(n.metadata, n.media, 140))));
  }

  function renderScore() {
    const e = S.current;
    const body = $("score-body");
    const num = (v) => (typeof v === "number" ? v.toFixed(3) : "–");
    const s = e && e.score;
    const probs = Object.entries((e && e.probabilities) || {}).sort((a, b) => b[1] - a[1]).slice(0, 5);
    body.replaceChildren(
      s ? el("p", { text: `Picked with score ${num(s.score)}: the product of its ranks among the candidates.` }) : "",
      s ? el("table", { "aria-label": "score terms" },
        el("tr", {}, el("td"), el("th", { scope: "col", text: "value" }), el("th", { scope: "col", text: "rank" })),
        ...["uncertainty", "density", "diversity"].map((k) => el("tr", {}, el("th", { scope: "row", text: k }),
          el("td", { text: num(s[k]) }), el("td", { text: num(s[`${k}_term`]) }))))
        : el("p", { text: e ? "This item was not picked by the strategy (it came back from an undo)." : "" }),
      probs.length ? el("table", {}, el("caption", { text: "Class probabilities" }),
        ...probs.map(([k, v]) => el("tr", {}, el("th", { scope: "row", text: k }), el("td", { text: pct(v) })))) : "");
  }

  function zoom() {
    const e = S.current;
    if (!e || !e.content || e.content.kind !== "image") return;
    $("zoom-img").src = e.content.url;
    $("zoom-img").alt = `item ${e.id}, zoomed`;
    $("zoom").showModal();
  }

  // ------------------------------------------------------------------ actions
  function isFixed() { return !!(S.info && S.info.settings && S.info.settings.labels.length); }

  function addLabel(label) {
    if (!S.labels.includes(label)) { S.labels.push(label); renderLabels(); }
  }

  function focusItem() { $("item-card").focus({ preventScroll: true }); }

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
        const r = await post("/labels", { labels: { [e.id]: label }, annotator: S.annotator });
        S.given += 1;
        addLabel(label);
        const more = r.propagated_ids.length ? ` (and ${r.propagated_ids.length} duplicates)` : "";
        say(`Labeled ${e.id} as ${label}${more}.`);
        onProgress(r.progress);
        if (S.current) refreshPrediction(S.current);
      } catch (err) {
        S.history = S.history.filter((h) => h.id !== e.id);
        $("undo").disabled = !S.history.length;
        throw err;
      }
    });
    refill();
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
      const r = await post("/skip", { ids: [e.id], annotator: S.annotator });
      say(`Skipped ${e.id}: it will not be handed out again until unskipped.`);
      onProgress(r.progress);
    });
    refill();
  }

  /** Remove the last label and show its item again (it is then no longer leased: labeling
   * an unlabeled item needs no lease). The item on screen goes back to the queue. */
  function undo() {
    const last = S.history.pop();
    $("undo").disabled = !S.history.length;
    if (!last) { say("Nothing to undo in this session."); return; }
    markKey(last.id);
    write(async () => {
      const r = await post("/labels/remove", { ids: [last.id] });
      S.given -= 1;
      onProgress(r.progress);
      const got = await post("/items/get", { ids: [last.id] });
      const e = entry(got.items[0], false);
      if (S.current) S.queue.unshift(S.current);
      show(e);
      focusItem();
      say(`Undone: ${last.id} was labeled ${last.label}. Label it again.`);
      refreshPrediction(e);
    });
  }

  /** The prediction and its neighbours change with every label: ask again for the item on screen. */
  async function refreshPrediction(e) {
    try {
      const r = await post("/predict", { ids: [e.id], explain: true });
      const p = r.predictions[0];
      Object.assign(e, { predicted: p.label, confidence: p.confidence, probabilities: p.probabilities,
                         neighbors: p.neighbors || [] });
      if (S.current === e) { renderPrediction(); renderWhy(); renderScore(); }
    } catch (err) {
      showError(err);
    }
  }

  /** A label given from a review view: the item leaves the queue if it was there. */
  async function labelItem(id, label) {
    const r = await post("/labels", { labels: { [id]: label }, annotator: S.annotator });
    addLabel(label);
    S.queue = S.queue.filter((e) => e.id !== id);
    if (S.current && S.current.id === id) advance();
    onProgress(r.progress);
    say(`Labeled ${id} as ${label}.`);
    refill();
  }

  // ------------------------------------------------------------------ leases
  async function renew() {
    const ids = held();
    if (!ids.length) return;
    try {
      await post("/renew", { ids, annotator: S.annotator });
    } catch (err) {
      if (err.status !== 412) { showError(err); return; }
      // One of them is no longer ours (expired and handed to someone else): renew the rest.
      for (const id of ids) {
        try { await post("/renew", { ids: [id], annotator: S.annotator }); } catch {
          S.queue = S.queue.filter((e) => e.id !== id);
          if (S.current && S.current.id === id) { S.current.leased = false; say(`The lease of ${id} was lost; your label is still accepted.`); }
        }
      }
      refill();
    }
    try { setInfo(await api("GET", proj())); } catch (err) { showError(err); }
  }

  function release({ keepalive }) {
    const ids = held();
    if (!ids.length || !S.project) return Promise.resolve();
    return fetch(API + proj("/release"), { method: "POST", keepalive, headers: headers(true),
                                           body: JSON.stringify({ ids, annotator: S.annotator }) }).catch(() => {});
  }

  // ------------------------------------------------------------------ progress
  function onProgress(p) {
    if (!p) return;
    S.progress = p;
    const est = p.estimate;
    if (est.accuracy !== null && est.accuracy !== undefined) {
      const point = { n: est.labeled, acc: est.accuracy, low: est.low, high: est.high };
      const last = S.curve[S.curve.length - 1];
      if (last && last.n === point.n) S.curve[S.curve.length - 1] = point; else S.curve.push(point);
    }
    const rows = [
      ["Labels given (this session)", String(S.given)],
      ["Labeled in the project", `${est.labeled}` + (S.info ? ` of ${S.info.pool_size}` : "")],
      ["Budget left", p.budget_left === null || p.budget_left === undefined ? "no budget" : `${p.budget_left} of ${p.label_budget}`],
      ["Accuracy estimate", est.accuracy === null || est.accuracy === undefined ? "not yet (needs labels)"
        : `${pct(est.accuracy)} (95% interval ${pct(est.low)}–${pct(est.high)})`],
    ];
    if (p.target_accuracy > 0) rows.push(["Target", pct(p.target_accuracy)]);
    $("progress").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    drawCurve(p.target_accuracy);
    banner(p);
    const option = $("project").selectedOptions[0];
    if (option && option.value === S.project && S.info) option.textContent = `${S.project} (${est.labeled} of ${S.info.pool_size} labeled)`;
  }

  function banner(p) {
    const b = $("banner");
    const texts = {
      budget_reached: `Label budget spent: ${p.label_budget} labels given or in hand; no more items are handed out.`,
      target_reached: `Target reached: the accuracy estimate's lower bound is ${pct(p.estimate.low)}, at or above the target ${pct(p.target_accuracy)}. You can stop here.`,
      pool_exhausted: "Pool exhausted: every item has a label.",
    };
    const text = texts[p.stop_reason] || "";
    if (b.textContent !== text) b.textContent = text;
    b.dataset.reason = p.stop_reason;
    b.hidden = !text;
  }

  function drawCurve(target) {
    const svg = $("curve");
    const W = 240, H = 100, pad = 6;
    const pts = S.curve;
    const ns = pts.map((q) => q.n);
    const n0 = Math.min(...ns), n1 = Math.max(...ns);
    const x = (n) => pad + 20 + (n1 > n0 ? (n - n0) / (n1 - n0) : 0.5) * (W - 2 * pad - 20);
    const y = (v) => H - pad - v * (H - 2 * pad);
    const ns_ = "http://www.w3.org/2000/svg";
    const mk = (tag, attrs) => {
      const node = document.createElementNS(ns_, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      return node;
    };
    const parts = [mk("rect", { x: 0, y: 0, width: W, height: H, class: "curve-bg" })];
    for (const v of [0.5, 1]) {
      parts.push(mk("line", { x1: pad + 18, x2: W - pad, y1: y(v), y2: y(v), class: "grid" }));
      const label = mk("text", { x: pad, y: y(v) + 3, class: "axis" });
      label.textContent = pct(v);
      parts.push(label);
    }
    if (target > 0) parts.push(mk("line", { x1: pad + 18, x2: W - pad, y1: y(target), y2: y(target), class: "target" }));
    if (pts.length) {
      const band = pts.map((q) => `${x(q.n)},${y(q.high)}`).concat(pts.slice().reverse().map((q) => `${x(q.n)},${y(q.low)}`));
      parts.push(mk("polygon", { points: band.join(" "), class: "band" }));
      parts.push(mk("polyline", { points: pts.map((q) => `${x(q.n)},${y(q.acc)}`).join(" "), class: "line" }));
      const last = pts[pts.length - 1];
      parts.push(mk("circle", { cx: x(last.n), cy: y(last.acc), r: 2.5, class: "dot" }));
    }
    svg.replaceChildren(...parts);
    const last = pts[pts.length - 1];
    $("curve-caption").textContent = last
      ? `Accuracy estimate over this session: ${pct(pts[0].acc)} at ${pts[0].n} labels, ${pct(last.acc)} at ${last.n}`
        + (target > 0 ? ` (target ${pct(target)}, dashed)` : "")
      : "Accuracy estimate over this session: none yet";
  }

  // ------------------------------------------------------------------ review views
  /** A form to label an item from a list: a choice of the fixed set, or a text box with suggestions. */
  function labelForm(id, preset, onDone) {
    const field = isFixed()
      ? el("select", { "aria-label": `label for ${id}` }, ...S.labels.map((l) => el("option", { value: l, text: l })))
      : el("input", { type: "text", list: "known-labels", "aria-label": `label for ${id}`, maxlength: "256" });
    if (preset) field.value = preset;
    const form = el("form", { class: "row-label" }, field, el("button", { type: "submit", text: "Label" }));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const label = field.value.trim();
      if (!label) { say("Type a label first."); field.focus(); return; }
      try { await labelItem(id, label); if (onDone) onDone(label); } catch (err) { showError(err); }
    });
    return form;
  }

  function row(id, metadata, media, facts, ...controls) {
    return el("li", { class: "row" }, preview(metadata, media),
              el("p", { class: "facts" }, el("strong", { text: id }), el("span", { text: facts })),
              el("div", { class: "row-controls" }, ...controls));
  }

  const views = {
    async recent() {
      const q = new URLSearchParams({ limit: REVIEW_LIMIT });
      if ($("recent-mine").checked) q.set("annotator", S.annotator);
      const r = await api("GET", proj(`/recent?${q}`));
      return r.labels.map((l) => row(l.id, l.metadata, null,
        ` ${l.label} · by ${l.annotator || "(no name)"} · ${new Date(l.time * 1000).toLocaleTimeString()}`,
        el("button", { type: "button", text: "Undo", onclick: async (ev) => {
          try {
            const res = await post("/labels/remove", { ids: [l.id] });
            S.history = S.history.filter((h) => h.id !== l.id);
            onProgress(res.progress);
            say(`Removed the label of ${l.id}.`);
            ev.target.closest("li").remove();
          } catch (err) { showError(err); }
        } }),
        labelForm(l.id, l.label)));
    },
    async suspicious() {
      const r = await api("GET", proj(`/suspicious?limit=${REVIEW_LIMIT}`));
      return r.items.map((s) => row(s.id, s.metadata, s.media,
        ` labeled ${s.label} by ${s.annotator || "(no name)"}; its neighbours say ${s.predicted_label} (${pct(s.confidence)})`,
        labelForm(s.id, s.predicted_label, () => say(`Relabeled ${s.id}.`))));
    },
    async duplicates() {
      const r = await api("GET", proj(`/duplicates?limit=${REVIEW_LIMIT}`));
      return r.groups.map((g) => row(g.ids[0], (g.metadata || [])[0], null,
        ` ${g.ids.length} items: ${g.ids.slice(0, 6).join(", ")}${g.ids.length > 6 ? ", …" : ""}` + (g.label ? ` · labeled ${g.label}` : " · unlabeled"),
        labelForm(g.ids[0], g.label)));
    },
    async outliers() {
      const r = await api("GET", proj(`/outliers?limit=${REVIEW_LIMIT}`));
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

  async function loadView(name) {
    if (!views[name]) return;
    const list = $(`${name === "search" ? "search-results" : name + "-list"}`);
    if (!S.project) { list.replaceChildren(el("li", { class: "hint", text: "Start with a project first." })); return; }
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

  function selectView(name, { focus = false } = {}) {
    S.view = name;
    for (const tab of document.querySelectorAll('[role="tab"]')) {
      const on = tab.dataset.view === name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      if (on && focus) tab.focus();
      $(`view-${tab.dataset.view}`).hidden = !on;
    }
    if (name !== "search") loadView(name);
  }

  function moreLikeThis() {
    if (!S.current) return;
    $("search-by").value = "id";
    $("search-query").value = S.current.id;
    selectView("search", { focus: true });
    loadView("search");
  }

  // ------------------------------------------------------------------ projects and sessions
  function setInfo(info) {
    S.info = info;
    const s = info.settings || { labels: [] };
    const seen = isFixed() ? s.labels : Object.keys(info.label_counts);
    for (const l of seen) if (!S.labels.includes(l)) S.labels.push(l);
    if (isFixed()) S.labels = s.labels.slice();
    renderLabels();
    const text = !!s.encoder && !/^mobilenet/.test(s.encoder);
    $("search-by").querySelector('option[value="text"]').disabled = !text;
    if (!text) $("search-by").value = "id";
  }

  async function loadProjects() {
    const select = $("project");
    try {
      const r = await api("GET", "/projects");
      const stored = S.project || localStorage.getItem("knn-al.project") || "";
      select.replaceChildren(...r.projects.map((p) => {
        const o = el("option", { value: p.name,
          text: p.state === "ready" ? `${p.name} (${p.labeled_count} of ${p.pool_size} labeled)` : `${p.name} (broken: ${p.problem})` });
        o.disabled = p.state !== "ready";
        return o;
      }));
      if (!r.projects.length) select.append(el("option", { value: "", text: "no project yet" }));
      if (r.projects.some((p) => p.name === stored && p.state === "ready")) select.value = stored;
      clearError();
      return true;
    } catch (err) {
      showError(err);
      return false;
    }
  }

  async function start() {
    S.token = $("token").value.trim();
    if (S.token) localStorage.setItem("knn-al.token", S.token); else localStorage.removeItem("knn-al.token");
    // No project listed yet (the list needed the token just typed): list them first.
    if (!$("project").value && !(await loadProjects())) return;
    const project = $("project").value, annotator = $("annotator").value.trim();
    if (!project) { say("This server has no project yet: create one (knn-al CLI, or POST /api/v1/projects)."); return; }
    if (!annotator) { say("Type your name as annotator first."); $("annotator").focus(); return; }
    if (S.active) { await S.writes; await release({ keepalive: false }); }
    localStorage.setItem("knn-al.project", project);
    localStorage.setItem("knn-al.annotator", annotator);
    Object.assign(S, { project, annotator, labels: [], current: null, queue: [], asking: 0, exhausted: false,
                       history: [], given: 0, curve: [], progress: null, keyPending: null, active: false });
    clearError();
    clearInterval(S.renewTimer);
    try {
      setInfo(await api("GET", proj()));
    } catch (err) { showError(err); return; }
    S.active = true;
    $("undo").disabled = true;
    $("session-text").textContent = `Project ${project} · annotator ${annotator}`;
    $("connect").hidden = true;
    $("session").hidden = false;
    say(`Labeling ${project} as ${annotator}.`);
    S.renewTimer = setInterval(renew, ((S.info.settings && S.info.settings.lease_seconds) || 600) * 1000 / 3);
    selectView("label");
    showNothing();
    await refill();
    focusItem();
  }

  // ------------------------------------------------------------------ wiring
  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t.closest && t.closest("#new-label-form") && ev.key === "Escape") { ev.preventDefault(); focusItem(); return; }
    if (t.matches("input, textarea, select, [contenteditable]") || $("zoom").open) return;
    if (S.view !== "label" || !S.active) return;
    if (/^[1-9]$/.test(ev.key)) {
      const label = S.labels[Number(ev.key) - 1];
      if (label && S.current) { ev.preventDefault(); labelCurrent(label); }
      return;
    }
    const act = {
      Enter: () => { if (t.matches("button, a, summary, [tabindex='0']")) return false; acceptPrediction(); },
      s: skipCurrent, u: undo, m: moreLikeThis, z: zoom,
      n: () => { if (isFixed()) return false; $("new-label").focus(); },
      "?": () => { const d = $("score-details"); d.open = !d.open; },
      Escape: () => focusItem(),
    }[ev.key];
    if (act && act() !== false) ev.preventDefault();
  }

  function onTabKey(ev) {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    const i = tabs.indexOf(ev.target);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    selectView(tabs[(to + tabs.length) % tabs.length].dataset.view, { focus: true });
  }

  function init() {
    S.annotator = localStorage.getItem("knn-al.annotator") || "";
    S.token = localStorage.getItem("knn-al.token") || "";
    $("annotator").value = S.annotator;
    $("token").value = S.token;
    if (S.token) $("token-field").hidden = false;
    $("connect").addEventListener("submit", (ev) => { ev.preventDefault(); start(); });
    $("reload-projects").addEventListener("click", () => { S.token = $("token").value.trim(); loadProjects(); });
    $("error-close").addEventListener("click", clearError);
    $("change").addEventListener("click", () => {
      $("session").hidden = true;
      $("connect").hidden = false;
      $("project").focus();
    });
    $("skip").addEventListener("click", skipCurrent);
    $("undo").addEventListener("click", undo);
    $("more-like").addEventListener("click", moreLikeThis);
    $("new-label-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const label = $("new-label").value.trim();
      if (!label) return;
      $("new-label").value = "";
      labelCurrent(label);
    });
    $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadView("search"); });
    $("recent-mine").addEventListener("change", () => loadView("recent"));
    for (const tab of document.querySelectorAll('[role="tab"]')) {
      tab.addEventListener("click", () => selectView(tab.dataset.view));
      tab.addEventListener("keydown", onTabKey);
    }
    for (const b of document.querySelectorAll("button.refresh")) b.addEventListener("click", () => loadView(b.dataset.view));
    document.addEventListener("keydown", onKey);
    window.addEventListener("pagehide", () => release({ keepalive: true }));
    // Back from the back/forward cache: the leases were released on pagehide, start again.
    window.addEventListener("pageshow", (ev) => { if (ev.persisted && S.active) start(); });
    drawCurve(0);
    inFlight(0);
    const params = new URLSearchParams(location.search);
    loadProjects().then((ok) => {
      if (params.get("project")) $("project").value = params.get("project");
      if (params.get("annotator")) $("annotator").value = params.get("annotator");
      if (ok && params.get("project") && params.get("annotator")) start();
    });
  }

  init();
})();
