// The slide's event stream: other viewers' annotation changes, and follow-me.
//
// A pathologist who shares posts their view (center and zoom in level-0 pixels,
// rotation, pointer) at most every 100 ms; everyone on the slide receives it and may
// follow, which makes their viewer read-only until they stop.

import { api, datum, el, liveEvents, t, tNodes } from "/static/shell/shell.js";

export const SEND_INTERVAL_MS = 100;

/** The view a presenter sends: center and zoom in level-0 pixels, rotation, pointer. */
export function viewOf(viewer, pointer) {
  const vp = viewer.viewport;
  const center = vp.viewportToImageCoordinates(vp.getCenter(true));
  return {
    center: [center.x, center.y],
    zoom: vp.viewportToImageZoom(vp.getZoom(true)),
    rotation: vp.getRotation(),
    pointer: pointer ? [pointer.x, pointer.y] : null,
  };
}

/** Show a presenter's view (and pointer) in a follower's viewer, at once. */
export function applyView(viewer, overlay, view) {
  const vp = viewer.viewport;
  vp.setRotation(view.rotation);
  vp.zoomTo(vp.imageToViewportZoom(view.zoom), null, true);
  vp.panTo(vp.imageToViewportCoordinates(new OpenSeadragon.Point(...view.center)), true);
  overlay.pointer = view.pointer ? { x: view.pointer[0], y: view.pointer[1] } : null;
  overlay.schedule();
}

export class Live {
  constructor({ slideId, viewer, overlay, store, me, onFollowChange }) {
    Object.assign(this, { slideId, viewer, overlay, store, me, onFollowChange });
    this.client = crypto.randomUUID();
    this.sharing = false;
    this.following = null; // presenter's username
    this.presenters = new Map(); // username -> last view
    this.connected = false;
    this._lastSent = 0;
    this._timer = null;
    this._pointer = null;
  }

  connect() {
    // The arrival map answers as the stream does (404 for a slide deleted or no longer
    // shared with this user) and is not audited per call.
    const source = liveEvents(`/api/slides/${this.slideId}/events`,
      { check: `/api/slides/${this.slideId}/arrival` });
    source.addEventListener("ready", () => {
      // After a reconnect, reload: changes made while the stream was down were missed.
      if (this.connected) this.store.load();
      this.connected = true;
      this.setLink("connected");
    });
    // The stream dropped or was refused (it reopens by itself, `liveEvents`): say so in
    // words, since what others draw or show meanwhile does not reach this page.
    source.addEventListener("error", () => { if (this.connected) this.setLink("reconnecting"); });
    source.addEventListener("refused", () => this.setLink("refused"));
    source.addEventListener("annotation", (e) => this.store.apply(JSON.parse(e.data)));
    source.addEventListener("view", (e) => this._view(JSON.parse(e.data)));
    this.source = source;
    const stage = document.getElementById("stage");
    stage.addEventListener("pointermove", (e) => {
      if (!this.sharing) return;
      const r = stage.getBoundingClientRect();
      this._pointer = this.overlay.toImage(e.clientX - r.left, e.clientY - r.top);
      this.queueSend();
    });
    this.viewer.addHandler("viewport-change", () => this.queueSend());
    this.renderBar();
  }

  setLink(state) {
    if (document.body.dataset.live === state) return;
    document.body.dataset.live = state;
    // Over the slide, where the pathologist is looking, not in the crowded header.
    document.getElementById("live-lost")?.remove();
    const notices = {
      reconnecting: t("Live updates interrupted, reconnecting: others' annotations and shared views may be out of date"),
      refused: t("Live updates stopped: this slide has been deleted or is no longer shared with you"),
    };
    if (notices[state]) {
      document.getElementById("stage").append(el("div", { id: "live-lost", role: "status" }, notices[state]));
    }
  }

  _view(view) {
    if (view.client === this.client) return;
    if (!view.sharing) {
      this.presenters.delete(view.presenter);
      if (this.following === view.presenter) this.follow(null);
    } else {
      const isNew = !this.presenters.has(view.presenter);
      this.presenters.set(view.presenter, view);
      if (this.following === view.presenter) this.applyView(view);
      if (!isNew) return;
    }
    this.renderBar();
  }

  applyView(view) {
    applyView(this.viewer, this.overlay, view);
  }

  follow(presenter) {
    this.following = presenter;
    this.overlay.pointer = null;
    document.body.dataset.following = presenter || "";
    if (presenter && this.presenters.has(presenter)) this.applyView(this.presenters.get(presenter));
    this.viewer.setMouseNavEnabled(!presenter);
    this.viewer.innerTracker.keysEnabled = !presenter;
    this.onFollowChange(presenter);
    this.renderBar();
  }

  share(on) {
    this.sharing = on;
    if (!on) this._post(false);
    else this.queueSend();
    this.renderBar();
  }

  queueSend() {
    if (!this.sharing || this._timer) return;
    const wait = Math.max(0, this._lastSent + SEND_INTERVAL_MS - performance.now());
    this._timer = setTimeout(() => { this._timer = null; this._post(true); }, wait);
  }

  _post(sharing) {
    this._lastSent = performance.now();
    const body = { ...viewOf(this.viewer, this._pointer), sharing, client: this.client };
    // Best effort: the next movement sends the view again.
    api(`/api/slides/${this.slideId}/view`, { json: body }).catch(() => {});
  }

  renderBar() {
    const bar = document.getElementById("follow-bar");
    const parts = [];
    if (this.me?.role === "pathologist" && !this.following) {
      parts.push(el("button", { type: "button", id: "share", "aria-pressed": String(this.sharing),
        onclick: () => this.share(!this.sharing) }, this.sharing ? t("Stop sharing my view") : t("Share my view")));
    }
    if (this.following) {
      parts.push(el("span", {}, ...tNodes("Following {name} (read-only)", { name: datum(this.following) }), " "),
        el("button", { type: "button", id: "unfollow", onclick: () => this.follow(null) }, t("Stop following")));
    } else {
      for (const name of this.presenters.keys()) {
        if (name === this.me?.username && this.sharing) continue;
        parts.push(el("button", { type: "button", class: "follow", "data-presenter": name,
          onclick: () => this.follow(name) }, ...tNodes("Follow {name}", { name: datum(name) })));
      }
    }
    bar.replaceChildren(...parts);
  }
}
