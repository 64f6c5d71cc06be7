/* The page's calls to the HTTP/JSON API (/api/v1) and to item media.
 *
 * `conn` holds the project, annotator and token every call uses (app.js sets them).
 * <body data-pending="N">: API calls in flight (0 when the page is idle), for tests and benchmarks.
 */

const API = new URL("api/v1", document.baseURI).pathname;

export const conn = { project: "", annotator: "", token: "" };

/** Called when a call answers 401 (app.js shows the token field). */
export const hooks = { unauthorized: () => {} };

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

function headers(json) {
  const h = { Accept: "application/json" };
  if (json) h["Content-Type"] = "application/json";
  if (conn.token) h.Authorization = "Bearer " + conn.token;
  return h;
}

let pending = 0;
function inFlight(delta) { pending += delta; document.body.dataset.pending = String(pending); }
inFlight(0);

/** `method` on /api/v1`path` with a JSON `body`; the reply's JSON, or an ApiError with the server's message. */
export async function api(method, path, body) {
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
    if (res.status === 401) hooks.unauthorized();
    throw new ApiError(res.status, e.code || `HTTP ${res.status}`, e.message || `${res.status} ${res.statusText}`);
  }
  return data;
}

/** The path of the current project, followed by `rest`. */
export const proj = (rest = "") => `/projects/${encodeURIComponent(conn.project)}${rest}`;
export const post = (rest, body) => api("POST", proj(rest), body);

/** A POST that outlives the page (keepalive): the release on pagehide. Errors are dropped. */
export function postOnLeaving(rest, body) {
  return fetch(API + proj(rest), { method: "POST", keepalive: true, headers: headers(true),
                                   body: JSON.stringify(body) }).catch(() => {});
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
    if (mediaCache.size > 400) {  // forget the oldest (a Map keeps insertion order)
      const [old, p] = mediaCache.entries().next().value;
      mediaCache.delete(old);
      p.then((m) => m.url && URL.revokeObjectURL(m.url), () => {});
    }
  }
  return mediaCache.get(url);
}

/** What to show of an item: metadata.text, else its media (an image or a kept text), else
 * its source (texts embedded from a file keep their text there). Resolves to {kind, text|url}. */
export function contentOf(metadata, media) {
  const m = metadata || {};
  if (typeof m.text === "string") return Promise.resolve({ kind: "text", text: m.text });
  if (media) return fetchMedia(media);
  const source = m.source || m.path || m.image;
  return Promise.resolve({ kind: "text", text: typeof source === "string" ? source : JSON.stringify(m) });
}
