// The slide's annotations: loaded from the API, changed through it, kept in step with
// other viewers by the slide's event stream. Rendering caches live here too (Path2D,
// bounds), built once per change and not per frame.

import { api } from "/static/shell/shell.js";
import { bounds, pointsOf, toPath } from "./geometry.js";

const DEFAULT_COLOR = [255, 200, 0];

export class AnnotationStore extends EventTarget {
  constructor(slideId) {
    super();
    this.slideId = slideId;
    this.base = `/api/slides/${slideId}/annotations`;
    this.items = new Map(); // id -> {feature, path, points, box, color}
  }

  async load() {
    this.show(await api(this.base));
  }

  /** Show `collection` (a FeatureCollection) in place of what the store held. */
  show(collection) {
    this.items.clear();
    for (const feature of collection.features) this._put(feature);
    this._changed();
  }

  _put(feature) {
    const classification = feature.properties.classification;
    this.items.set(feature.id, {
      feature,
      path: toPath(feature.geometry),
      points: pointsOf(feature.geometry),
      box: bounds(feature.geometry),
      color: colorOf(classification),
    });
  }

  _changed(detail = {}) {
    this.dispatchEvent(new CustomEvent("change", { detail }));
  }

  /** Apply a change announced on the event stream (our own ones included: idempotent). */
  apply(event) {
    if (event.change === "deleted") this.items.delete(event.id);
    else {
      const known = this.items.get(event.feature.id);
      const version = (f) => f.properties.slidebridge?.version ?? 0;
      if (known && version(known.feature) > version(event.feature)) return;
      this._put(event.feature);
    }
    this._changed(event);
  }

  async add(collectionOrFeature) {
    const created = await api(this.base, { json: collectionOrFeature });
    for (const feature of created.features) this._put(feature);
    this._changed({ change: "created" });
    return created.features;
  }

  async update(feature) {
    const written = await api(`${this.base}/${feature.id}`, { method: "PUT", json: withoutProvenance(feature) });
    this._put(written);
    this._changed({ change: "updated" });
    return written;
  }

  async remove(id) {
    await api(`${this.base}/${id}`, { method: "DELETE" });
    this.items.delete(id);
    this._changed({ change: "deleted", id });
  }

  history(id) {
    return api(`${this.base}/${id}/history`);
  }

  async restore(id, version) {
    const written = await api(`${this.base}/${id}/restore`, { json: { version } });
    this._put(written);
    this._changed({ change: "restored" });
    return written;
  }

  /** QuPath's GeoJSON (no SlideBridge provenance), as text for a download. */
  async exportText() {
    return JSON.stringify(await api(`${this.base}?format=qupath`), null, 2);
  }
}

function withoutProvenance(feature) {
  const { slidebridge: _ignored, ...properties } = feature.properties;
  return { ...feature, properties };
}

export function colorOf(classification) {
  if (classification?.color) return classification.color;
  if (Number.isInteger(classification?.colorRGB)) {
    const v = classification.colorRGB; // QuPath < 0.4: packed ARGB
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }
  return DEFAULT_COLOR;
}
