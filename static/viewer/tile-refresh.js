// Tiles of a slide still arriving, kept current in OpenSeadragon without clearing the rest.
//
// The hub answers every tile, `final` (the finished slide's bytes) or `interim` (made from
// what has arrived), in the header SlideBridge-Tile. OpenSeadragon keeps each tile it has
// loaded in its own memory whatever the answer's Cache-Control said, so an interim tile is
// fetched again here when its data may have changed (an arrival event names the area), and
// now and then while it is on screen (the hub moves the bytes of the tiles it is asked for
// to the front of the agent's queue: asking again keeps where the pathologist looks first).
//
// A tile on screen gets its new picture in place (CacheRecord.setDataAs, through
// OpenSeadragon's own converters): the coarse picture stays until the sharper one is
// decoded, no flash, no other tile touched. A tile in memory but off screen is dropped and
// its URL gets a new version (`?v=2`), so that when it is next shown OpenSeadragon fetches
// it instead of reviving the old picture from its cache. A final tile never changes.

const FINALITY = "SlideBridge-Tile";
/** Tiles re-fetched at once; the rest wait their turn (the browser has 6 connections). */
const PARALLEL = 4;

/** Level-0 pixels [x0, y0, x1, y1) that Deep Zoom tile (z, x, y) covers, overlap included. */
export function tileBox(source, z, x, y) {
  const d = 2 ** (source.maxLevel - z);
  const size = source.getTileWidth(z);
  const overlap = source.tileOverlap;
  return [(x * size - overlap) * d, (y * size - overlap) * d, ((x + 1) * size + overlap) * d, ((y + 1) * size + overlap) * d];
}

/** Whether an arrival event's area ({z_low, x, y, width, height}) may change tile (z, box). */
function changes(area, z, [x0, y0, x1, y1]) {
  return z >= area.z_low && area.x < x1 && x0 < area.x + area.width && area.y < y1 && y0 < area.y + area.height;
}

export class TileRefresh {
  constructor(viewer) {
    this.viewer = viewer;
    this.finality = new Map(); // tile URL -> "final" | "interim", the latest answer
    this.versions = new Map(); // "z/x/y" -> version of its URL
    this.waiting = new Map(); // tile -> its tiled image, to be fetched again
    this.fetching = new Set();
    this.fetched = 0; // tiles fetched again (the tests read it)
    for (const v of [viewer, viewer.navigator].filter(Boolean)) {
      v.addHandler("tile-loaded", (e) => this._loaded(e));
      v.world.addHandler("add-item", (e) => this._versionUrls(e.item.source));
    }
  }

  /** Main viewer's and navigator's tiled images. */
  _images() {
    return [this.viewer, this.viewer.navigator].filter(Boolean).flatMap((v) =>
      Array.from({ length: v.world.getItemCount() }, (_, i) => v.world.getItemAt(i)));
  }

  _versionUrls(source) {
    if (source.slidebridgeVersioned) return; // the navigator shares the viewer's source
    source.slidebridgeVersioned = true;
    const plain = source.getTileUrl.bind(source);
    source.getTileUrl = (z, x, y) => {
      const version = this.versions.get(`${z}/${x}/${y}`);
      return version ? `${plain(z, x, y)}?v=${version}` : plain(z, x, y);
    };
  }

  _loaded(e) {
    const answer = e.tileRequest?.getResponseHeader?.(FINALITY);
    if (answer) this.finality.set(e.tile.getUrl(), answer);
    // An event arrived while this tile was on its way: its answer may predate the bytes.
    if (e.tile.slidebridgeStale) {
      e.tile.slidebridgeStale = false;
      if (answer !== "final") this._queue(e.tile, e.tiledImage);
    }
  }

  isFinal(tile) {
    return this.finality.get(tile.getUrl()) === "final";
  }

  /**
   * The tiles that `areas` (an arrival event's) may have changed, or every tile not known
   * final when `areas` is null (the whole file has arrived): fetched again if on screen,
   * else forgotten.
   */
  changed(areas) {
    for (const image of this._images()) {
      const onScreen = new Set(image.lastDrawn.map((info) => info.tile));
      for (const [z, columns] of Object.entries(image.tilesMatrix)) {
        for (const [x, rows] of Object.entries(columns)) {
          for (const [y, tile] of Object.entries(rows)) {
            if (!tile || this.isFinal(tile)) continue;
            if (areas) {
              const box = tileBox(image.source, Number(z), Number(x), Number(y));
              if (!areas.some((area) => changes(area, Number(z), box))) continue;
            }
            if (tile.loading) tile.slidebridgeStale = true;
            else if (tile.loaded && onScreen.has(tile)) this._queue(tile, image);
            else this._forget(image, tile, rows, y);
          }
        }
      }
    }
  }

  /** Ask again for the interim tiles on the main viewer's screen (the demand stays fresh). */
  askAgain() {
    const image = this.viewer.world.getItemAt(0);
    if (!image) return;
    for (const { tile } of image.lastDrawn) if (tile.loaded && !this.isFinal(tile)) this._queue(tile, image);
  }

  _forget(image, tile, rows, y) {
    const key = `${tile.level}/${tile.x}/${tile.y}`;
    this.versions.set(key, (this.versions.get(key) || 0) + 1);
    if (tile.loaded) tile.unload(true);
    delete rows[y];
    this.waiting.delete(tile);
  }

  _queue(tile, image) {
    this.waiting.set(tile, image);
    this._pump();
  }

  _pump() {
    for (const [tile, image] of this.waiting) {
      if (this.fetching.size >= PARALLEL) return;
      if (this.fetching.has(tile)) continue; // again once this fetch is done
      this.waiting.delete(tile);
      this.fetching.add(tile);
      this._fetch(tile, image)
        .catch(() => {}) // the next event or round asks again
        .finally(() => { this.fetching.delete(tile); this._pump(); });
    }
  }

  async _fetch(tile, image) {
    const url = tile.getUrl();
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return;
    const answer = response.headers.get(FINALITY);
    if (answer) this.finality.set(url, answer);
    const blob = await response.blob();
    this.fetched += 1;
    const converter = OpenSeadragon.converter;
    const wanted = image.getDrawer().getRequiredDataFormats();
    const path = converter.getConversionPath("rasterBlob", wanted);
    if (!path) return;
    const data = await converter.convert(tile, blob, "rasterBlob", ...wanted);
    const cache = tile.loaded && tile.getUrl() === url ? tile.getCache() : null;
    if (!cache || data === undefined) {
      if (data !== undefined) converter.destroy(data, converter.getConversionPathFinalType(path));
      return; // dropped or unloaded meanwhile
    }
    await cache.setDataAs(data, converter.getConversionPathFinalType(path));
  }
}
