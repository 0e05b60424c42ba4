// The slide's annotations: loaded from the API, changed through it, kept in step with
// other viewers by the slide's event stream. Rendering caches live here too (Path2D,
// bounds), built once per change and not per frame.

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
    const response = await fetch(this.base, { credentials: "same-origin" });
    if (!response.ok) throw new Error(await reason(response));
    const collection = await response.json();
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
    const response = await send("POST", this.base, collectionOrFeature);
    const created = await response.json();
    for (const feature of created.features) this._put(feature);
    this._changed({ change: "created" });
    return created.features;
  }

  async update(feature) {
    const response = await send("PUT", `${this.base}/${feature.id}`, withoutProvenance(feature));
    const written = await response.json();
    this._put(written);
    this._changed({ change: "updated" });
    return written;
  }

  async remove(id) {
    await send("DELETE", `${this.base}/${id}`);
    this.items.delete(id);
    this._changed({ change: "deleted", id });
  }

  async history(id) {
    const response = await fetch(`${this.base}/${id}/history`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(await reason(response));
    return response.json();
  }

  async restore(id, version) {
    const response = await send("POST", `${this.base}/${id}/restore`, { version });
    const written = await response.json();
    this._put(written);
    this._changed({ change: "restored" });
    return written;
  }

  /** QuPath's GeoJSON (no SlideBridge provenance), as text for a download. */
  async exportText() {
    const response = await fetch(`${this.base}?format=qupath`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(await reason(response));
    return JSON.stringify(await response.json(), null, 2);
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

async function send(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await reason(response));
  return response;
}

export async function reason(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    return JSON.stringify(body.detail);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}
