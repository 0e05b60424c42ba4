// A slide still crossing the link, in the viewer. The hub serves it from the first byte:
// until its structure is in (about a second) there is nothing to draw, then every tile
// answers, final or interim. Here: wait quietly for the structure (no reload), then say how
// much has arrived, grey on the navigator what is still coarse, and sharpen tiles in place
// as the slide's `arrival` events name the areas whose bytes came in, until the whole file
// is in and verified (`queued`): from then on the viewer is an ordinary one.

import { api, formatArriving, liveEvents, t } from "/static/shell/shell.js";
import { ArrivalMap } from "./arrival-map.js";

/** The navigator's map at most this often (each answer is a few kB for a large slide). */
const MAP_INTERVAL_MS = 2000;
/** Interim tiles on screen are asked for again this often: the hub's priority signal. */
const ASK_AGAIN_MS = 5000;
/** Without an event, look again this often while waiting for the structure. */
const STRUCTURE_POLL_MS = 5000;

export function arrivalText(received) {
  const where = t("full resolution first where you look");
  return `${formatArriving(received)} · ${where}`;
}

/**
 * Wait until the slide can be drawn: its structure has arrived (the navigator map has a
 * grid), or it is no longer arriving. `onProgress(received)` on each look. Resolves with
 * the slide's record, read again (size, levels and calibration are known by then).
 */
export async function waitForStructure(slide, onProgress) {
  // A wake-up on top of the poll; reopened after a 502 like the viewer's own stream.
  const source = liveEvents(`/api/slides/${slide.id}/events`, { check: `/api/slides/${slide.id}/arrival` });
  let wake = null;
  source.addEventListener("arrival", (e) => {
    onProgress(JSON.parse(e.data).received ?? 0);
    wake?.();
  });
  try {
    for (;;) {
      try {
        const map = await api(`/api/slides/${slide.id}/arrival`); // not audited: cheap to ask
        onProgress(map.received);
        if (map.status !== "arriving" || map.cols > 0) return await api(`/api/slides/${slide.id}`);
      } catch (error) {
        if (error.status !== 0 && error.status < 500) throw error; // a dropped link: look again
      }
      await new Promise((resolve) => {
        wake = resolve;
        setTimeout(resolve, STRUCTURE_POLL_MS);
      });
    }
  } finally {
    source.close();
  }
}

export class Arrival {
  /**
   * `source`: the slide's event stream (the viewer's own); `refresh`: the viewer's
   * TileRefresh; `onProgress(received)` while arriving; `onEnd(status, error)` once not.
   */
  constructor({ slide, viewer, source, refresh, onProgress, onEnd }) {
    Object.assign(this, { slide, viewer, refresh, onProgress, onEnd });
    this.status = "arriving";
    this.received = slide.received;
    this.overview = false;
    this.map = new ArrivalMap(viewer);
    this.events = 0;
    this._mapTimer = null;
    this._mapAsked = 0;
    this._askTimer = setInterval(() => this._askAgain(), ASK_AGAIN_MS);
    source.addEventListener("arrival", (e) => this._event(JSON.parse(e.data)));
    // Connected or reconnected: events may have been missed meanwhile.
    source.addEventListener("ready", () => this._catchUp());
    viewer.addHandler("open", () => this._loadMap());
    this.onProgress(this.received);
  }

  get arriving() {
    return this.status === "arriving";
  }

  _event(event) {
    if (!this.arriving) return;
    this.events += 1;
    if (event.status !== "arriving") {
      this._end(event.status, event.error);
      return;
    }
    this.received = event.received;
    this.overview = event.overview;
    this.onProgress(this.received);
    if (event.areas?.length) {
      this.refresh.changed(event.areas);
      this._scheduleMap();
    }
  }

  _catchUp() {
    if (!this.arriving) return;
    this.refresh.askAgain();
    this._loadMap();
  }

  _askAgain() {
    if (this.arriving && document.visibilityState === "visible") this.refresh.askAgain();
  }

  /** The navigator's map, at most every MAP_INTERVAL_MS, the last change always shown. */
  _scheduleMap() {
    if (this._mapTimer) return;
    const wait = Math.max(0, this._mapAsked + MAP_INTERVAL_MS - performance.now());
    this._mapTimer = setTimeout(() => { this._mapTimer = null; this._loadMap(); }, wait);
  }

  async _loadMap() {
    this._mapAsked = performance.now();
    let map;
    try {
      map = await api(`/api/slides/${this.slide.id}/arrival`);
    } catch {
      return; // the next event asks again
    }
    if (!this.arriving) return;
    if (map.status !== "arriving") {
      this._end(map.status, null);
      return;
    }
    this.received = Math.max(this.received, map.received);
    this.onProgress(this.received);
    this.map.show(map);
  }

  _end(status, error) {
    this.status = status;
    clearInterval(this._askTimer);
    clearTimeout(this._mapTimer);
    this.map.clear();
    // Whole and verified: every tile is final now, those still interim are fetched again.
    if (status !== "failed") this.refresh.changed(null);
    this.onEnd(status, error);
  }
}
