// Talking to the hub from a page: the session cookie goes with every request, a signed-out
// user is sent to the login form (which brings them back here), and an error body
// becomes one readable sentence instead of a status code or a JSON dump, in the user's
// language (the hub says its own sentences in it; these are the page's).

import { t } from "./i18n.js";

/**
 * Send the browser to the login form, coming back to this very page afterwards; `why`
 * ("idle", "ended", "expired", "disabled") makes the form say why.
 */
export function signIn(why) {
  const next = encodeURIComponent(location.pathname + location.search);
  location.href = `/login?next=${next}${why ? `&why=${encodeURIComponent(why)}` : ""}`;
}

// A request's fields by the words of the forms that send them (a refusal names the field
// as the person filled it in); any other field by its name.
const FIELDS = () => ({
  patient_mrn: t("Medical record number"), patient_name: t("Patient name"), patient_dob: t("Date of birth"),
  patient_sex: t("Sex"), specimen_site: t("Specimen site"), specimen_laterality: t("Laterality"),
  specimen_type: t("Specimen type"), clinical_question: t("Clinical question"), surgeon_name: t("Surgeon"),
  operating_room: t("Operating room"), history: t("History"), site: t("Site"), type: t("Type"),
  category: t("Category"), diagnosis: t("Diagnosis"), margins: t("Margins"), comment: t("Comment to the surgeon"),
  reason: t("Reason for the amendment"), password: t("Password"),
});

/**
 * The message of an error answer. The hub answers `{"detail": "one sentence"}`; request
 * validation answers a list of `{loc, msg}`, shown as "Date of birth: Input should be ..."
 * (the hub words `msg` in the user's language).
 */
export function errorText(status, bodyText) {
  let detail;
  try {
    detail = JSON.parse(bodyText).detail;
  } catch {
    return t("the hub answered {status}", { status });
  }
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    return detail.map((item) => {
      const parts = (item.loc || []).filter((part) => !["body", "query", "path"].includes(part));
      const field = parts.length === 1 && FIELDS()[parts[0]] ? FIELDS()[parts[0]] : parts.join(" ").replaceAll("_", " ");
      return field ? `${field}: ${item.msg}` : item.msg;
    }).join("; ");
  }
  return t("the hub answered {status}", { status });
}

/** Why a tus-js-client upload failed: the hub's own words and status, not the client's dump. */
export function uploadErrorText(error) {
  const response = error.originalResponse;
  if (response) {
    const status = response.getStatus();
    const text = errorText(status, response.getBody());
    return text.includes(String(status)) ? text : `${text} (${status})`;
  }
  return navigator.onLine ? error.message : t("no network: waiting to resume");
}

/**
 * fetch with the session cookie: the parsed JSON (null for 204), or an Error whose
 * message is readable and whose `status` is the HTTP status (0: no connection).
 * `json` sends a JSON body (POST unless `method` says otherwise).
 */
export async function api(url, { json, ...options } = {}) {
  const init = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
  if (json !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw Object.assign(new Error(t("no connection to the hub")), { status: 0 });
  }
  if (response.status === 401) {
    signIn();
    throw Object.assign(new Error(t("signed out: going to the sign-in page")), { status: 401 });
  }
  if (!response.ok) {
    throw Object.assign(new Error(errorText(response.status, await response.text())), { status: response.status });
  }
  return response.status === 204 ? null : response.json();
}

// A stream the browser gave up on is opened again after this long, doubled at each failure
// up to the last: quick after a web process restarts, never a loop that hammers the hub.
const REOPEN_FIRST_MS = 1000;
const REOPEN_MAX_MS = 15000;

/**
 * One of the hub's live streams, used like an EventSource (`addEventListener`, `close`).
 * `url` may be a function, asked again at each reopen (a page that resumes by
 * `?last_event_id=`).
 *
 * The browser reconnects by itself after a dropped connection, but gives up for good after
 * an HTTP error (a 502 while a web process behind nginx restarts, a 401). Then a plain
 * request tells which (`check`, a cheap route that answers as the stream would: the user,
 * or the thing streamed): allowed, a new EventSource with the same listeners after
 * REOPEN_FIRST_MS, doubled per failure up to REOPEN_MAX_MS (back to the first once the hub
 * says `ready`); signed out, to the login form (`api`), coming back here; not found or
 * forbidden (the slide deleted, no longer shared with the user), a `refused` event
 * (`data`: {"status": 404}) and no reopen: such a stream would be refused for ever. The
 * hub ends a stream whose credential fell (expired, revoked, signed out in another tab,
 * idle, user disabled) with a `signed-out` event: to the login form the same way, never a
 * reopen.
 */
export function liveEvents(url, { check = "/api/users/me" } = {}) {
  const listeners = []; // [type, handler], attached to every EventSource opened
  let source;
  let closed = false;
  let reopenTimer = null;
  let reopenMs = REOPEN_FIRST_MS;

  function open() {
    source = new EventSource(typeof url === "function" ? url() : url, { withCredentials: true });
    for (const [type, handler] of listeners) source.addEventListener(type, handler);
  }
  async function reopenIfAllowed() {
    // A 401 here has already sent the page to the login form; no answer at all (the hub
    // is down) is worth another try, like a 502.
    const status = await api(check).then(() => 200, (error) => error.status);
    if (status === 401 || closed) return;
    if (status === 403 || status === 404) {
      closed = true;
      source.dispatchEvent(new MessageEvent("refused", { data: JSON.stringify({ status }) }));
      return;
    }
    reopenTimer = setTimeout(open, reopenMs);
    reopenMs = Math.min(reopenMs * 2, REOPEN_MAX_MS);
  }
  const stream = {
    addEventListener(type, handler) {
      listeners.push([type, handler]);
      source.addEventListener(type, handler);
    },
    close() {
      closed = true;
      clearTimeout(reopenTimer);
      source.close();
    },
  };
  open();
  stream.addEventListener("ready", () => { reopenMs = REOPEN_FIRST_MS; });
  stream.addEventListener("error", (event) => {
    if (event.target.readyState === EventSource.CLOSED) reopenIfAllowed();
  });
  stream.addEventListener("signed-out", (event) => {
    stream.close();
    signIn(JSON.parse(event.data).code);
  });
  return stream;
}
