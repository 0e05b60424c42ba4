// One de-identified copy at a time in OpenSeadragon, with the viewer's annotation layer
// (read-only here): shared by the teaching case and the conference pages.

import { Overlay } from "/static/viewer/overlay.js";
import { AnnotationStore } from "/static/viewer/store.js";

const EMPTY = { type: "FeatureCollection", features: [] };

export class SlideView {
  constructor(element = "osd", canvas = "overlay") {
    this.element = element;
    this.canvas = document.getElementById(canvas);
    this.viewer = null;
    this.slideId = null;
  }

  /** Open `slideId` (a no-op if shown); resolves once its tiles' geometry is known. */
  open(slideId) {
    if (slideId === this.slideId) return Promise.resolve();
    this.slideId = slideId;
    const source = `/dzi/${slideId}.dzi`;
    const opened = new Promise((resolve) => {
      if (!this.viewer) {
        this.viewer = OpenSeadragon({
          id: this.element, prefixUrl: "/static/vendor/openseadragon/images/", tileSources: source,
          loadTilesWithAjax: true, ajaxWithCredentials: true, drawer: "canvas", showNavigator: true,
          navigatorPosition: "BOTTOM_RIGHT", showNavigationControl: false, maxZoomPixelRatio: 4,
        });
        this.store = new AnnotationStore(slideId);
        this.overlay = new Overlay(this.viewer, this.canvas, this.store, { id: slideId });
      } else {
        this.viewer.open(source);
      }
      this.viewer.addOnceHandler("open", () => resolve());
    });
    this.show(EMPTY);
    return opened;
  }

  /** Draw `collection` (a FeatureCollection) over the slide, in place of what was drawn. */
  show(collection) {
    this.store?.show(collection || EMPTY);
  }

  /** Follow someone else's view (true) or move freely (false). */
  readOnly(on) {
    this.viewer.setMouseNavEnabled(!on);
    this.viewer.innerTracker.keysEnabled = !on;
  }
}
