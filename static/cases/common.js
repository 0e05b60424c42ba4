// Shared by the case pages: the live event stream with reconnect and catch-up, the case
// clock, and the words for a case's state. Fetching, elements and formats: the shell.

import { formatArriving, formatTime, liveEvents, t, tn } from "/static/shell/shell.js";

/** A case's state in the user's language. */
export const STATUS_WORDS = {
  requested: t("Requested"), slides_uploading: t("Slides uploading"), ready: t("Slides ready"),
  in_review: t("In review"), reported: t("Reported"), acknowledged: t("Acknowledged"),
  amended: t("AMENDED"), cancelled: t("Cancelled"),
};

/** A report's category in words, in the user's language (the operating room reads it). */
export const CATEGORY_WORDS = {
  benign: t("benign"), malignant: t("malignant"), atypical: t("atypical / suspicious"),
  deferred: t("deferred to permanent sections"), non_diagnostic: t("non-diagnostic"),
};

export function categoryWord(report) {
  return CATEGORY_WORDS[report.category] || report.category_label;
}

/** The request form's choices, said back in the user's language. */
export const CHOICE_WORDS = {
  frozen_section: t("frozen section"), routine: t("routine"), second_opinion: t("second opinion"),
  female: t("female"), male: t("male"), other: t("other"), unknown: t("unknown"),
  left: t("left"), right: t("right"), bilateral: t("bilateral"), midline: t("midline"),
  not_applicable: t("not applicable"),
};

export const choiceWord = (value) => CHOICE_WORDS[value] || value;

/** What happened on a case's timeline, in the user's language. */
export const EVENT_WORDS = {
  requested: t("requested"), slide_received: t("slide received"), slides_ready: t("slides ready"),
  claim: t("claimed"), view: t("slides viewed"), report: t("reported"), acknowledge: t("acknowledged"),
  amend: t("amended"), cancel: t("cancelled"), update: t("request changed"), attach: t("slide attached"),
  attachment: t("attachment added"), attachment_removed: t("attachment removed"),
};

// The clock is the server's: minutes at `server_time`, advanced by the local time since
// the snapshot arrived (so a wrong client clock cannot make a case look younger).
export class Clock {
  constructor(caseData) { this.set(caseData); }
  set(caseData) { this.data = caseData.clock; this.received = performance.now(); }
  minutes(which = "minutes_since_requested") {
    const base = this.data[which];
    if (base === null || base === undefined) return null;
    return this.data.running ? base + (performance.now() - this.received) / 60000 : base;
  }
}

export function clockClass(minutes, running) {
  if (!running) return "clock stopped";
  if (minutes >= 15) return "clock red";
  if (minutes >= 10) return "clock amber";
  return "clock";
}

// A live stream of case snapshots. EventSource reconnects by itself after a dropped
// connection and sends the last `id:` as Last-Event-ID; `liveEvents` reopens a stream the
// browser gave up on (an HTTP error); a link that goes silent (no frame, not even a ping,
// for STALE_MS) is closed and reopened here. Both reopen with `?last_event_id=` so the
// server replays what was missed. `onStatus` gets {connected, lastHeard} for the "last
// heard" display. A stream the hub ends because the session fell sends the page to the
// login form (`liveEvents`). With `check` (a route that answers as the stream would), a
// stream refused for good (404/403) is not asked for again: `onRefused` instead.
const STALE_MS = 15000;

export class CaseStream {
  constructor(url, { onCase, onStatus, onReady, onRefused, check }) {
    this.url = url; this.onCase = onCase; this.onStatus = onStatus || (() => {});
    this.onReady = onReady || (() => {}); this.onRefused = onRefused || (() => {});
    this.check = check; this.refused = false;
    this.lastId = null; this.lastHeard = null; this.connected = false; this.versions = new Map();
    this.open();
    this.timer = setInterval(() => this.watch(), 1000);
  }
  open() {
    this.source = liveEvents(() => (this.lastId === null ? this.url
      : `${this.url}${this.url.includes("?") ? "&" : "?"}last_event_id=${this.lastId}`),
    { check: this.check }); // undefined: liveEvents' own check, the user
    this.source.addEventListener("ready", (event) => {
      this.heard(true);
      this.onReady(JSON.parse(event.data));
    });
    this.source.addEventListener("ping", () => this.heard(true));
    this.source.addEventListener("case", (event) => {
      this.heard(true);
      if (event.lastEventId) this.lastId = Number(event.lastEventId);
      this.accept(JSON.parse(event.data).case);
    });
    this.source.addEventListener("error", () => { this.connected = false; this.report(); });
    this.source.addEventListener("refused", (event) => {
      clearInterval(this.timer); // no reopen when silent either
      this.refused = true;
      this.report();
      this.onRefused(JSON.parse(event.data));
    });
  }
  // Snapshots may arrive twice or out of order (a replay and a live frame): keep the newest.
  accept(caseData) {
    const seen = this.versions.get(caseData.id) || 0;
    if (caseData.version < seen) return;
    this.versions.set(caseData.id, caseData.version);
    this.onCase(caseData);
  }
  // Stop for good (the page is about to change its credential and reload).
  close() { clearInterval(this.timer); this.source.close(); }
  resume() { this.open(); this.timer = setInterval(() => this.watch(), 1000); }
  heard(connected) { this.connected = connected; this.lastHeard = new Date(); this.report(); }
  report() {
    this.onStatus({ connected: this.connected, lastHeard: this.lastHeard, refused: this.refused });
  }
  watch() {
    if (this.lastHeard && Date.now() - this.lastHeard.getTime() > STALE_MS) {
      this.source.close();
      this.connected = false;
      this.lastHeard = new Date(Date.now() - STALE_MS + 3000); // retry in ~3 s if still silent
      this.open();
    }
    this.report();
  }
}

export function showLink(node, { connected, lastHeard, refused }) {
  const age = lastHeard ? Math.round((Date.now() - lastHeard.getTime()) / 1000) : null;
  const stale = !connected || age === null || age > 12;
  node.className = `link-state${stale ? " stale" : ""}`;
  if (refused) { // never "Connecting…" for a stream the hub refused for good
    node.textContent = t("Not live");
    node.dataset.connected = "false";
    return;
  }
  const linkWord = connected ? t("Live") : t("Reconnecting…");
  node.textContent = lastHeard
    ? t("{state} · last heard from the server {age} s ago ({time})", {
      state: linkWord, age, time: formatTime(lastHeard, { seconds: true }),
    })
    : t("Connecting…");
  node.dataset.connected = String(connected);
}

export function slideStateText(state) {
  const parts = [];
  // Slides still crossing the link: viewable once their overview is in, sharper each minute.
  if (state.arriving) {
    const slides = tn("({count} slide)", "({count} slides)", state.arriving);
    parts.push(formatArriving(state.received) + (state.arriving > 1 ? ` ${slides}` : ""));
  }
  if (state.uploading) parts.push(t("{count} uploading", { count: state.uploading }));
  parts.push(t("{viewable}/{attached} viewable", { viewable: state.viewable, attached: state.attached }));
  if (state.failed) parts.push(t("{count} failed", { count: state.failed }));
  return parts.join(" · ");
}
