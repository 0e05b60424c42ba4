// The annotation layer: one <canvas> over OpenSeadragon, redrawn once per frame.
//
// Shapes stay in level-0 image coordinates and are drawn with one affine transform
// (image -> screen, rotation included) as one batched Path2D per colour, so 10,000
// annotations cost a handful of draw calls, not 10,000 DOM nodes or paths.
//
// Rasterizing those paths is still the expensive part (~40 ms for 10,000 squares), so
// the saved annotations go into an offscreen "layer" canvas a margin larger than the
// view. While only the translation changes (panning), a frame is one drawImage of that
// layer; it is redrawn when the zoom, rotation, size or store changes, or when a pan
// leaves the margin. Redraws only rasterize annotations whose bounds meet the layer.
// The selected highlight, points, draft, ruler and pointer change often and are cheap,
// so they are drawn live on top every frame.

import { clampTo, closeRing, ellipseRing, rectangleRing, segmentDistance } from "./geometry.js";

const PICK_TOLERANCE_PX = 6;
const CLOSE_POLYGON_PX = 10;
const FREEHAND_STEP_PX = 3;
const GRID_CELLS = 16; // per side of the annotations' extent, for culling and chunking strokes
const LAYER_MARGIN_PX = 256; // CSS px of annotations kept ready beyond each edge of the view

export class Overlay {
  constructor(viewer, canvas, store, slide) {
    this.viewer = viewer;
    this.canvas = canvas;
    this.store = store;
    this.slide = slide;
    this.ctx = canvas.getContext("2d");
    this.hitCtx = document.createElement("canvas").getContext("2d");
    this.groups = []; // per colour: {key, items, all: Path2D of every item}
    this.pointItems = [];
    this.layer = document.createElement("canvas");
    this.layerCtx = this.layer.getContext("2d");
    this.layerAt = null; // the transform and size the layer was drawn for
    this.selected = null;
    this.tool = null;
    this.draft = null; // the shape being drawn: {tool, points, cursor}
    this.ruler = null; // {a, b} in image coordinates; never saved
    this.pointer = null; // a presenter's pointer when following
    this.onShape = () => {};
    this.onRuler = () => {};
    this.frames = 0;
    this._pending = false;
    store.addEventListener("change", () => { this._rebuild(); this.schedule(); });
    for (const name of ["update-viewport", "resize", "rotate"]) viewer.addHandler(name, () => this.schedule());
    new ResizeObserver(() => this.schedule()).observe(canvas);
    this._bindPointer();
    this._rebuild();
  }

  schedule() {
    if (this._pending) return;
    this._pending = true;
    requestAnimationFrame(() => { this._pending = false; this.render(); });
  }

  _rebuild() {
    const byColor = new Map();
    this.pointItems = [];
    const shapes = [];
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const item of this.store.items.values()) {
      if (item.points.length) this.pointItems.push(item);
      if (!item.path) continue;
      shapes.push(item);
      x0 = Math.min(x0, item.box.minX); y0 = Math.min(y0, item.box.minY);
      x1 = Math.max(x1, item.box.maxX); y1 = Math.max(y1, item.box.maxY);
    }
    // Each colour's shapes are also split into the cells of a coarse grid (by the corner
    // of their box), each with one Path2D and the union of its shapes' bounds: a redraw
    // strokes only the cells that meet the layer, and Skia strokes ~40 small paths in
    // two thirds of the time it takes for one path with all of them.
    const cell = Math.max(x1 - x0, y1 - y0, 1) / GRID_CELLS;
    for (const item of shapes) {
      const key = item.color.join(",");
      if (!byColor.has(key)) byColor.set(key, { key, all: new Path2D(), cells: new Map() });
      const group = byColor.get(key);
      group.all.addPath(item.path);
      const b = item.box;
      const id = Math.floor((b.minX - x0) / cell) * (GRID_CELLS + 1) + Math.floor((b.minY - y0) / cell);
      let c = group.cells.get(id);
      if (!c) group.cells.set(id, (c = { path: new Path2D(), minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity }));
      c.path.addPath(item.path);
      c.minX = Math.min(c.minX, b.minX); c.minY = Math.min(c.minY, b.minY);
      c.maxX = Math.max(c.maxX, b.maxX); c.maxY = Math.max(c.maxY, b.maxY);
    }
    this.groups = [...byColor.values()].map((g) => ({ ...g, cells: [...g.cells.values()] }));
    this.layerAt = null;
  }

  /** [a, b, c, d, e, f]: image point (x, y) -> element point (a x + c y + e, b x + d y + f). */
  transform() {
    const vp = this.viewer.viewport;
    const P = OpenSeadragon.Point;
    const o = vp.imageToViewerElementCoordinates(new P(0, 0));
    const ux = vp.imageToViewerElementCoordinates(new P(1000, 0));
    const uy = vp.imageToViewerElementCoordinates(new P(0, 1000));
    return [(ux.x - o.x) / 1000, (ux.y - o.y) / 1000, (uy.x - o.x) / 1000, (uy.y - o.y) / 1000, o.x, o.y];
  }

  toImage(x, y) {
    const p = this.viewer.viewport.viewerElementToImageCoordinates(new OpenSeadragon.Point(x, y));
    return { x: p.x, y: p.y };
  }

  toScreen(t, x, y) {
    return { x: t[0] * x + t[2] * y + t[4], y: t[1] * x + t[3] * y + t[5] };
  }

  render() {
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
    }
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.viewer.world.getItemCount()) return;
    const t = this.transform();
    const scale = Math.hypot(t[0], t[1]); // screen px per image px
    const m = LAYER_MARGIN_PX;
    let at = this.layerAt;
    if (!at || !at.fits(t, w, h, dpr)) at = this.layerAt = this._drawLayer(t, w, h, dpr);
    // Panning only moves the layer: one blit, at a sub-pixel offset like the tiles below.
    ctx.drawImage(this.layer, dpr * (t[4] - at.t[4] - m), dpr * (t[5] - at.t[5] - m));
    ctx.setTransform(dpr * t[0], dpr * t[1], dpr * t[2], dpr * t[3], dpr * t[4], dpr * t[5]);
    ctx.lineJoin = "round";
    const selected = this.selected && this.store.items.get(this.selected);
    if (selected?.path) {
      ctx.lineWidth = 5 / scale;
      ctx.strokeStyle = "rgba(255,255,255,0.9)";
      ctx.stroke(selected.path);
      ctx.lineWidth = 2.5 / scale;
      ctx.strokeStyle = `rgb(${selected.color.join(",")})`;
      ctx.stroke(selected.path);
    }
    this._drawDraft(ctx, scale);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this._drawPoints(ctx, t, selected);
    this._drawRuler(ctx, t);
    this._drawPointer(ctx, t);
    this.frames++;
  }

  /** Rasterize the saved annotations meeting the view plus margin into the layer. */
  _drawLayer(t, w, h, dpr) {
    const m = LAYER_MARGIN_PX;
    const layer = this.layer, ctx = this.layerCtx;
    const lw = Math.round((w + 2 * m) * dpr), lh = Math.round((h + 2 * m) * dpr);
    if (layer.width !== lw || layer.height !== lh) { layer.width = lw; layer.height = lh; }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, lw, lh);
    const scale = Math.hypot(t[0], t[1]);
    // The layer's rectangle in image coordinates (the bounds of its four corners, as the
    // view may be rotated), grown by the stroke's half width so edges are not clipped.
    const corners = [[-m, -m], [w + m, -m], [-m, h + m], [w + m, h + m]].map(([x, y]) => invert(t, x, y));
    const pad = 2 / scale;
    const minX = Math.min(...corners.map((c) => c.x)) - pad, maxX = Math.max(...corners.map((c) => c.x)) + pad;
    const minY = Math.min(...corners.map((c) => c.y)) - pad, maxY = Math.max(...corners.map((c) => c.y)) + pad;
    ctx.setTransform(dpr * t[0], dpr * t[1], dpr * t[2], dpr * t[3], dpr * (t[4] + m), dpr * (t[5] + m));
    ctx.lineJoin = "round";
    ctx.lineWidth = 2 / scale;
    for (const group of this.groups) {
      const visible = group.cells.filter((c) => c.maxX >= minX && c.minX <= maxX && c.maxY >= minY && c.minY <= maxY);
      if (!visible.length) continue;
      // Filling is cheap, and one fill of the whole colour keeps "evenodd" working across
      // overlapping shapes of that colour, as before; strokes are costly, so only the
      // visible cells are stroked.
      ctx.fillStyle = `rgba(${group.key},0.12)`;
      ctx.strokeStyle = `rgb(${group.key})`;
      ctx.fill(group.all, "evenodd");
      for (const c of visible) ctx.stroke(c.path);
    }
    const linear = t.slice(0, 4);
    return {
      t,
      // Reusable while only the translation changed, and by less than the margin.
      fits: (u, w2, h2, dpr2) => w2 === w && h2 === h && dpr2 === dpr
        && linear.every((v, i) => Math.abs(u[i] - v) <= 1e-9 * scale)
        && Math.abs(u[4] - t[4]) <= m && Math.abs(u[5] - t[5]) <= m,
    };
  }

  _drawPoints(ctx, t, selected) {
    for (const item of this.pointItems) {
      ctx.fillStyle = `rgb(${item.color.join(",")})`;
      ctx.strokeStyle = item === selected ? "#fff" : "rgba(0,0,0,0.7)";
      ctx.lineWidth = item === selected ? 3 : 1.5;
      for (const [x, y] of item.points) {
        const s = this.toScreen(t, x, y);
        ctx.beginPath();
        ctx.arc(s.x, s.y, 5, 0, 2 * Math.PI);
        ctx.fill();
        ctx.stroke();
      }
    }
  }

  _drawDraft(ctx, scale) {
    const d = this.draft;
    if (!d || !d.points.length) return;
    const ring = this._draftRing();
    if (!ring) return;
    ctx.setLineDash([8 / scale, 5 / scale]);
    ctx.lineWidth = 2 / scale;
    ctx.strokeStyle = "#ffd84d";
    ctx.beginPath();
    ring.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
    ctx.setLineDash([]);
  }

  _draftRing() {
    const d = this.draft;
    const last = d.cursor || d.points[d.points.length - 1];
    if (d.tool === "rectangle") return rectangleRing(d.points[0], last);
    if (d.tool === "ellipse") return ellipseRing(d.points[0], last);
    const pts = d.cursor && d.tool === "polygon" ? [...d.points, d.cursor] : d.points;
    return pts.map((p) => [p.x, p.y]);
  }

  _drawRuler(ctx, t) {
    if (!this.ruler) return;
    const a = this.toScreen(t, this.ruler.a.x, this.ruler.a.y);
    const b = this.toScreen(t, this.ruler.b.x, this.ruler.b.y);
    ctx.lineWidth = 4;
    ctx.strokeStyle = "rgba(0,0,0,0.6)";
    ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke();
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffd84d";
    ctx.stroke();
    for (const p of [a, b]) { ctx.beginPath(); ctx.arc(p.x, p.y, 4, 0, 2 * Math.PI); ctx.fillStyle = "#ffd84d"; ctx.fill(); }
  }

  _drawPointer(ctx, t) {
    if (!this.pointer) return;
    const p = this.toScreen(t, this.pointer.x, this.pointer.y);
    ctx.lineWidth = 3;
    ctx.strokeStyle = "#ff3df5";
    ctx.beginPath(); ctx.arc(p.x, p.y, 12, 0, 2 * Math.PI); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(p.x - 18, p.y); ctx.lineTo(p.x + 18, p.y); ctx.moveTo(p.x, p.y - 18); ctx.lineTo(p.x, p.y + 18); ctx.stroke();
  }

  // --- picking ------------------------------------------------------------------

  pick(screenX, screenY) {
    const p = this.toImage(screenX, screenY);
    const t = this.transform();
    const tol = PICK_TOLERANCE_PX / Math.hypot(t[0], t[1]);
    const items = [...this.store.items.values()].reverse(); // topmost (newest) first
    for (const item of items) {
      const b = item.box;
      if (p.x < b.minX - tol || p.x > b.maxX + tol || p.y < b.minY - tol || p.y > b.maxY + tol) continue;
      if (item.points.some(([x, y]) => Math.hypot(x - p.x, y - p.y) <= tol * 1.5)) return item.feature.id;
      const g = item.feature.geometry;
      if (g.type === "LineString") {
        const c = g.coordinates;
        for (let i = 0; i < c.length - 1; i++) if (segmentDistance(p, c[i], c[i + 1]) <= tol) return item.feature.id;
      } else if (item.path && this.hitCtx.isPointInPath(item.path, p.x, p.y, "evenodd")) {
        return item.feature.id;
      }
    }
    return null;
  }

  // --- tools --------------------------------------------------------------------

  setTool(tool) {
    this.tool = tool;
    this.draft = null;
    if (tool !== "ruler") this.ruler = tool === null ? null : this.ruler;
    this.canvas.classList.toggle("drawing", tool !== null);
    this.viewer.setMouseNavEnabled(tool === null);
    this.schedule();
  }

  cancel() {
    this.draft = null;
    this.ruler = null;
    this.onRuler(null);
    this.schedule();
  }

  _eventPoint(event) {
    const r = this.canvas.getBoundingClientRect();
    const screen = { x: event.clientX - r.left, y: event.clientY - r.top };
    return { screen, image: clampTo(this.toImage(screen.x, screen.y), this.slide.width, this.slide.height) };
  }

  _bindPointer() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this._down(e));
    c.addEventListener("pointermove", (e) => this._move(e));
    c.addEventListener("pointerup", (e) => this._up(e));
    c.addEventListener("dblclick", (e) => { e.preventDefault(); this.finishPolygon(); });
    // While a tool is active OpenSeadragon doesn't see the mouse; keep wheel zoom working.
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const { screen } = this._eventPoint(e);
      const at = this.viewer.viewport.pointFromPixel(new OpenSeadragon.Point(screen.x, screen.y));
      this.viewer.viewport.zoomBy(e.deltaY < 0 ? 1.25 : 0.8, at);
    }, { passive: false });
  }

  _down(e) {
    if (!this.tool || e.button !== 0) return;
    this.canvas.setPointerCapture(e.pointerId);
    const { screen, image } = this._eventPoint(e);
    if (this.tool === "point") {
      this.onShape({ type: "Point", coordinates: [round(image.x), round(image.y)] }, "point");
      return;
    }
    if (this.tool === "ruler") {
      this.ruler = { a: image, b: image };
      this.dragging = true;
      this._reportRuler();
    } else if (this.tool === "polygon") {
      if (this.draft && this.draft.points.length >= 3) {
        const t = this.transform();
        const first = this.toScreen(t, this.draft.points[0].x, this.draft.points[0].y);
        if (Math.hypot(first.x - screen.x, first.y - screen.y) <= CLOSE_POLYGON_PX) { this.finishPolygon(); return; }
      }
      this.draft = this.draft || { tool: "polygon", points: [] };
      this.draft.points.push(image);
    } else {
      this.draft = { tool: this.tool, points: [image], lastScreen: screen };
      this.dragging = true;
    }
    this.schedule();
  }

  _move(e) {
    if (!this.tool) return;
    const { screen, image } = this._eventPoint(e);
    if (this.tool === "ruler" && this.dragging) { this.ruler.b = image; this._reportRuler(); }
    else if (this.draft && this.tool === "freehand" && this.dragging) {
      const last = this.draft.lastScreen;
      if (Math.hypot(screen.x - last.x, screen.y - last.y) >= FREEHAND_STEP_PX) {
        this.draft.points.push(image);
        this.draft.lastScreen = screen;
      }
    } else if (this.draft) this.draft.cursor = image;
    this.schedule();
  }

  _up(e) {
    if (!this.tool || !this.dragging) return;
    this.dragging = false;
    const { image } = this._eventPoint(e);
    if (this.tool === "ruler") { this.ruler.b = image; this._reportRuler(); this.schedule(); return; }
    const d = this.draft;
    this.draft = null;
    if (d.tool === "rectangle" || d.tool === "ellipse") {
      const a = d.points[0];
      if (Math.abs(a.x - image.x) < 1 || Math.abs(a.y - image.y) < 1) { this.schedule(); return; }
      const ring = d.tool === "rectangle" ? rectangleRing(a, image) : ellipseRing(a, image);
      this.onShape({ type: "Polygon", coordinates: [ring] }, d.tool);
    } else if (d.tool === "freehand") {
      d.points.push(image);
      if (d.points.length >= 3) this.onShape({ type: "Polygon", coordinates: [closeRing(d.points)] }, "freehand");
    }
    this.schedule();
  }

  finishPolygon() {
    const d = this.draft;
    if (!d || d.tool !== "polygon") return;
    this.draft = null;
    if (d.points.length >= 3) this.onShape({ type: "Polygon", coordinates: [closeRing(d.points)] }, "polygon");
    this.schedule();
  }

  _reportRuler() {
    const { a, b } = this.ruler;
    const mx = this.slide.mpp_x, my = this.slide.mpp_y;
    const px = Math.hypot(b.x - a.x, b.y - a.y);
    const um = mx > 0 && my > 0 ? Math.hypot((b.x - a.x) * mx, (b.y - a.y) * my) : null;
    this.onRuler({ px, um });
  }
}

/** Element point (x, y) -> image point, for the transform t above. */
function invert(t, x, y) {
  const det = t[0] * t[3] - t[1] * t[2];
  const dx = x - t[4], dy = y - t[5];
  return { x: (t[3] * dx - t[2] * dy) / det, y: (t[0] * dy - t[1] * dx) / det };
}

function round(v) {
  return Math.round(v * 100) / 100;
}
