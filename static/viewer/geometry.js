// Shapes in level-0 pixel coordinates: building GeoJSON for each tool, measuring in µm,
// and hit testing. The server re-validates everything with shapely.

const ELLIPSE_VERTICES = 72; // as QuPath turns ellipses into polygons for GeoJSON

export function rectangleRing(a, b) {
  const [x0, x1] = [Math.min(a.x, b.x), Math.max(a.x, b.x)];
  const [y0, y1] = [Math.min(a.y, b.y), Math.max(a.y, b.y)];
  return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]];
}

export function ellipseRing(a, b) {
  const cx = (a.x + b.x) / 2, cy = (a.y + b.y) / 2;
  const rx = Math.abs(b.x - a.x) / 2, ry = Math.abs(b.y - a.y) / 2;
  const ring = [];
  for (let i = 0; i < ELLIPSE_VERTICES; i++) {
    const t = (2 * Math.PI * i) / ELLIPSE_VERTICES;
    ring.push([round(cx + rx * Math.cos(t)), round(cy + ry * Math.sin(t))]);
  }
  ring.push([...ring[0]]);
  return ring;
}

export function closeRing(points) {
  const ring = points.map((p) => [round(p.x), round(p.y)]);
  // Drop repeated vertices (a double-click adds one), which would make a zero-length edge.
  const unique = ring.filter((p, i) => i === 0 || p[0] !== ring[i - 1][0] || p[1] !== ring[i - 1][1]);
  unique.push([...unique[0]]);
  return unique;
}

function round(v) {
  return Math.round(v * 100) / 100;
}

/** Clamp a point to the slide, so a stroke that leaves the image still saves. */
export function clampTo(p, width, height) {
  return { x: Math.min(Math.max(p.x, 0), width), y: Math.min(Math.max(p.y, 0), height) };
}

function ringArea(ring, sx, sy) {
  let sum = 0;
  for (let i = 0; i < ring.length - 1; i++) {
    sum += ring[i][0] * sx * ring[i + 1][1] * sy - ring[i + 1][0] * sx * ring[i][1] * sy;
  }
  return Math.abs(sum) / 2;
}

function pathLength(coords, sx, sy) {
  let sum = 0;
  for (let i = 0; i < coords.length - 1; i++) {
    sum += Math.hypot((coords[i + 1][0] - coords[i][0]) * sx, (coords[i + 1][1] - coords[i][1]) * sy);
  }
  return sum;
}

/** Area and perimeter (or length) with each axis scaled by its own mpp; pixels if none. */
export function measureGeometry(geometry, mppX, mppY) {
  const sx = mppX || 1, sy = mppY || 1;
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates]
    : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  if (polygons.length) {
    let area = 0, perimeter = 0;
    for (const rings of polygons) {
      rings.forEach((ring, i) => { area += (i === 0 ? 1 : -1) * ringArea(ring, sx, sy); });
      rings.forEach((ring) => { perimeter += pathLength(ring, sx, sy); });
    }
    return { kind: "area", area, length: perimeter };
  }
  if (geometry.type === "LineString") return { kind: "line", area: 0, length: pathLength(geometry.coordinates, sx, sy) };
  const count = geometry.type === "MultiPoint" ? geometry.coordinates.length : 1;
  return { kind: "points", area: 0, length: 0, count };
}

export function bounds(geometry) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  const visit = (c) => {
    if (typeof c[0] === "number") {
      minX = Math.min(minX, c[0]); maxX = Math.max(maxX, c[0]);
      minY = Math.min(minY, c[1]); maxY = Math.max(maxY, c[1]);
    } else c.forEach(visit);
  };
  visit(geometry.coordinates);
  return { minX, minY, maxX, maxY };
}

/** A Path2D in image coordinates (areas and lines), or null for points. */
export function toPath(geometry) {
  const path = new Path2D();
  const ring = (coords, close) => {
    coords.forEach(([x, y], i) => (i ? path.lineTo(x, y) : path.moveTo(x, y)));
    if (close) path.closePath();
  };
  switch (geometry.type) {
    case "Polygon": geometry.coordinates.forEach((r) => ring(r, true)); return path;
    case "MultiPolygon": geometry.coordinates.forEach((p) => p.forEach((r) => ring(r, true))); return path;
    case "LineString": ring(geometry.coordinates, false); return path;
    default: return null;
  }
}

export function pointsOf(geometry) {
  if (geometry.type === "Point") return [geometry.coordinates];
  if (geometry.type === "MultiPoint") return geometry.coordinates;
  return [];
}

/** Distance from p to the segment a-b, for picking lines and outlines. */
export function segmentDistance(p, a, b) {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const t = Math.max(0, Math.min(1, ((p.x - a[0]) * dx + (p.y - a[1]) * dy) / (dx * dx + dy * dy || 1)));
  return Math.hypot(p.x - (a[0] + t * dx), p.y - (a[1] + t * dy));
}
