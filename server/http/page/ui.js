/* Small DOM helpers shared by the page's modules: elements, numbers, messages, previews.
 * Data from the server is only ever inserted as text (textContent), never as HTML. */
import { ApiError, contentOf } from "./api.js";

export const $ = (id) => document.getElementById(id);
export const pct = (x) => `${(100 * x).toFixed(0)}%`;

/** Characters of a text shown in lists. */
export const SNIPPET = 220;
export const snippet = (s, n = SNIPPET) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

/** `<tag>` with `props` (class, text, on<event> handlers, attributes) and `children`. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== ""));
  return node;
}

/** An error in the visible message area (role=alert), with the server's code and status. */
export function showError(err) {
  const where = err instanceof ApiError && err.status ? ` (${err.code}, HTTP ${err.status})` : "";
  $("error-text").textContent = `${err.message}${where}`;
  $("error").hidden = false;
  if (!(err instanceof ApiError)) console.error(err);
}

export function clearError() { $("error").hidden = true; $("error-text").textContent = ""; }

/** A status message (aria-live polite). */
export function say(text) { $("status").textContent = text; }

/** A list's view of an item: a text snippet or a thumbnail. */
export function preview(metadata, media, chars = SNIPPET) {
  const box = el("div", { class: "preview" });
  contentOf(metadata, media).then((c) => {
    box.append(c.kind === "image" ? el("img", { class: "thumb", src: c.url, alt: "thumbnail" })
                                  : el("p", { class: "snippet", text: snippet(c.text, chars) }));
  }, (err) => box.append(el("p", { class: "snippet", text: `(not shown: ${err.message})` })));
  return box;
}
