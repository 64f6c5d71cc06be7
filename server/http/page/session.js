/* The session: the project, annotator and token chosen (the connect form, or ?project=P&annotator=A
 * in the URL, which starts at once), a labeling session started, and the leases of the items
 * it holds: renewed every lease_seconds / 3 while the page is open, released with a keepalive
 * fetch when the page is hidden for good (pagehide).
 * Stored in localStorage: knn-al.project, knn-al.annotator, knn-al.token. */
import { api, conn, hooks, post, postOnLeaving, proj } from "./api.js";
import { $, clearError, el, say, showError } from "./ui.js";

/** What the session needs of the labeling loop (app.js). */
let loop = {
  active: () => false,            // a session is labeling
  settled: async () => {},        // the mutating calls sent have answered
  held: () => [],                 // ids of the items held (on screen and queued)
  reset: () => {},                // forget the last session's items and progress
  begin: async (info) => {},      // start labeling with the project's info
  setInfo: (info) => {},          // the project's info, refreshed
  lost: (id) => {},               // the lease of `id` is no longer ours
  refill: () => {},               // ask for items the queue lacks
};
let renewTimer = 0;

async function renew() {
  const ids = loop.held();
  if (ids.length) {
    try {
      await post("/renew", { ids, annotator: conn.annotator });
    } catch (err) {
      if (err.status !== 412) { showError(err); return; }
      // One of them is no longer ours (expired and handed to someone else): renew the rest.
      for (const id of ids) {
        try { await post("/renew", { ids: [id], annotator: conn.annotator }); } catch { loop.lost(id); }
      }
      loop.refill();
    }
  }
  // Labels other annotators added to an open set show up here.
  try { loop.setInfo(await api("GET", proj())); } catch (err) { showError(err); }
}

function release() {
  const ids = loop.held();
  return ids.length && conn.project ? postOnLeaving("/release", { ids, annotator: conn.annotator }) : Promise.resolve();
}

async function loadProjects() {
  const select = $("project");
  try {
    const r = await api("GET", "/projects");
    const stored = conn.project || localStorage.getItem("knn-al.project") || "";
    select.replaceChildren(...r.projects.map((p) => {
      const o = el("option", { value: p.name, text: p.state === "ready" ? `${p.name} (${p.labeled_count} of ${p.pool_size} labeled)`
                                                                        : `${p.name} (broken: ${p.problem})` });
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
  conn.token = $("token").value.trim();
  if (conn.token) localStorage.setItem("knn-al.token", conn.token); else localStorage.removeItem("knn-al.token");
  // No project listed yet (the list needed the token just typed): list them first.
  if (!$("project").value && !(await loadProjects())) return;
  const project = $("project").value, annotator = $("annotator").value.trim();
  if (!project) { say("This server has no project yet: create one (knn-al CLI, or POST /api/v1/projects)."); return; }
  if (!annotator) { say("Type your name as annotator first."); $("annotator").focus(); return; }
  if (loop.active()) { await loop.settled(); await release(); }
  localStorage.setItem("knn-al.project", project);
  localStorage.setItem("knn-al.annotator", annotator);
  Object.assign(conn, { project, annotator });
  loop.reset();
  clearError();
  clearInterval(renewTimer);
  let info;
  try {
    info = await api("GET", proj());
  } catch (err) { showError(err); return; }
  $("session-text").textContent = `Project ${project} · annotator ${annotator}`;
  $("connect").hidden = true;
  $("session").hidden = false;
  say(`Labeling ${project} as ${annotator}.`);
  renewTimer = setInterval(renew, ((info.settings && info.settings.lease_seconds) || 600) * 1000 / 3);
  await loop.begin(info);
}

/** Wire the connect form and the page's lifetime to the labeling loop; start at once when the
 * URL names the project and the annotator. */
export function initSession(labelingLoop) {
  loop = labelingLoop;
  hooks.unauthorized = () => {
    $("token-field").hidden = false;
    say("This server needs a token: enter it, then press Reload projects or Start labeling.");
  };
  conn.token = localStorage.getItem("knn-al.token") || "";
  $("annotator").value = localStorage.getItem("knn-al.annotator") || "";
  $("token").value = conn.token;
  if (conn.token) $("token-field").hidden = false;
  $("connect").addEventListener("submit", (ev) => { ev.preventDefault(); start(); });
  $("reload-projects").addEventListener("click", () => { conn.token = $("token").value.trim(); loadProjects(); });
  $("change").addEventListener("click", () => { $("session").hidden = true; $("connect").hidden = false; $("project").focus(); });
  window.addEventListener("pagehide", release);
  // Back from the back/forward cache: the leases were released on pagehide, start again.
  window.addEventListener("pageshow", (ev) => { if (ev.persisted && loop.active()) start(); });
  const params = new URLSearchParams(location.search);
  loadProjects().then((ok) => {
    if (params.get("project")) $("project").value = params.get("project");
    if (params.get("annotator")) $("annotator").value = params.get("annotator");
    if (ok && params.get("project") && params.get("annotator")) start();
  });
}
