// The navigator's map of what is still coarse while a slide arrives: full-resolution tiles
// whose bytes are not at the hub yet are greyed over the navigator's picture, with a
// caption that says so in words. The map is GET /api/slides/{id}/arrival: one flag per
// full-resolution tile, rows x cols, base64 of numpy.packbits (row by row, MSB first).

import { t } from "/static/shell/shell.js";

const MISSING = [60, 64, 72, 140]; // RGBA of a cell still coarse: grey, the picture shows through

/** Which cells have arrived, as a Uint8Array of 0/1 of length rows * cols. */
export function arrivedFlags(map) {
  const bytes = Uint8Array.from(atob(map.arrived), (c) => c.charCodeAt(0));
  const flags = new Uint8Array(map.rows * map.cols);
  for (let i = 0; i < flags.length; i += 1) flags[i] = (bytes[i >> 3] >> (7 - (i & 7))) & 1;
  return flags;
}

export class ArrivalMap {
  constructor(viewer) {
    this.viewer = viewer;
    this.map = null;
    this.cells = null; // a canvas of cols x rows pixels, one per full-resolution tile
    this.missing = 0;
    this.canvas = null;
    this.caption = null;
    this.hatch = null;
    this.hatchFor = 0; // the device pixel ratio the hatch was drawn for
  }

  _navigator() {
    return this.viewer.navigator;
  }

  _mount() {
    if (this.canvas) return true;
    const navigator = this._navigator();
    if (!navigator) return false;
    this.canvas = document.createElement("canvas");
    this.canvas.id = "arrival-map";
    this.canvas.setAttribute("aria-hidden", "true");
    this.caption = document.createElement("div");
    this.caption.id = "arrival-caption";
    this.caption.textContent = t("Grey: not yet at full resolution");
    navigator.element.append(this.canvas, this.caption);
    navigator.addHandler("update-viewport", () => this.draw());
    return true;
  }

  /** Show `map` (an /arrival answer); a slide whose bytes are all in has no map. */
  show(map) {
    if (!map.arrived || !map.cols || !map.rows) {
      this.clear();
      return;
    }
    if (!this._mount()) return;
    this.map = map;
    const flags = arrivedFlags(map);
    const cells = this.cells || document.createElement("canvas");
    cells.width = map.cols;
    cells.height = map.rows;
    const pixels = new ImageData(map.cols, map.rows);
    let missing = 0;
    flags.forEach((arrived, i) => {
      if (arrived) return;
      missing += 1;
      pixels.data.set(MISSING, i * 4);
    });
    cells.getContext("2d").putImageData(pixels, 0, 0);
    this.cells = cells;
    this.missing = missing;
    this.canvas.hidden = this.caption.hidden = false;
    this.draw();
  }

  clear() {
    this.map = null;
    this.missing = 0;
    if (this.canvas) this.canvas.hidden = this.caption.hidden = true;
  }

  draw() {
    const image = this._navigator()?.world.getItemAt(0);
    if (!this.map || !image || !this.canvas) return;
    const { canvas, map } = this;
    const dpr = window.devicePixelRatio || 1;
    const [width, height] = [Math.round(canvas.clientWidth * dpr), Math.round(canvas.clientHeight * dpr)];
    if (canvas.width !== width || canvas.height !== height) [canvas.width, canvas.height] = [width, height];
    const ctx = canvas.getContext("2d");
    ctx.save();
    ctx.clearRect(0, 0, width, height);
    // Cell (c, r) covers level-0 pixels from (c * tile_width, r * tile_height): one affine
    // map to the navigator's pixels, whatever its rotation.
    const at = (x, y) => image.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, y));
    const origin = at(0, 0);
    const across = at(map.tile_width, 0);
    const down = at(0, map.tile_height);
    ctx.setTransform(dpr * (across.x - origin.x), dpr * (across.y - origin.y),
      dpr * (down.x - origin.x), dpr * (down.y - origin.y), dpr * origin.x, dpr * origin.y);
    const size = image.getContentSize();
    ctx.beginPath();
    ctx.rect(0, 0, size.x / map.tile_width, size.y / map.tile_height); // the last cells end with the slide
    ctx.clip();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.cells, 0, 0);
    // Hatched as well as grey: "still coarse" is not told by a shade alone.
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalCompositeOperation = "source-atop";
    if (this.hatchFor !== dpr) [this.hatch, this.hatchFor] = [hatch(ctx, dpr), dpr];
    ctx.fillStyle = this.hatch;
    ctx.fillRect(0, 0, width, height);
    ctx.restore();
  }
}

function hatch(ctx, dpr) {
  const size = Math.round(7 * dpr);
  const tile = document.createElement("canvas");
  tile.width = tile.height = size;
  const pen = tile.getContext("2d");
  pen.strokeStyle = "rgba(255, 255, 255, 0.35)";
  pen.lineWidth = dpr;
  pen.beginPath();
  pen.moveTo(0, size);
  pen.lineTo(size, 0);
  pen.stroke();
  return ctx.createPattern(tile, "repeat");
}
