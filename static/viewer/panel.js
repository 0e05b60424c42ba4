// The side panel: slide metadata, the class list, the selected annotation with its
// sizes and history, label and macro images. Text goes in with textContent only.

import {
  datum, el, formatArea, formatArriving, formatBytes, formatCount, formatLength, formatPixels, formatTime, t, tn, tNodes,
} from "/static/shell/shell.js";
import { measureGeometry } from "./geometry.js";
import { colorOf } from "./store.js";

// The first classes, named in the user's language (a class name is then data: saved with
// each annotation and shown as it is).
export const DEFAULT_CLASSES = [
  { name: t("Tumour"), color: [200, 0, 0] },
  { name: t("Margin"), color: [0, 160, 0] },
  { name: t("Necrosis"), color: [120, 60, 20] },
  { name: t("Lymph node"), color: [0, 90, 200] },
];
const CLASSES_KEY = "slidebridge.classes";

export function showMetadata(slide) {
  const setByUser = " " + t("(set by a user)");
  const rows = [
    [t("Name"), datum(slide.name)],
    [t("Site"), datum(slide.site)],
    [t("Status"), statusWords(slide)],
    [t("Scanner"), datum(slide.vendor)],
    [t("Size"), formatPixels(slide.width, slide.height)],
    [t("Pixel size"), slide.mpp_x
      ? `${slide.mpp_x.toFixed(4)} × ${slide.mpp_y.toFixed(4)} µm${slide.calibration === "user" ? setByUser : ""}`
      : t("no calibration")],
    [t("Objective"), slide.objective_power ? `${slide.objective_power}×` : t("not recorded")],
    [t("Levels"), String(slide.levels.length)],
    [t("File"), formatBytes(slide.size_bytes)],
    [t("Added"), formatTime(slide.created_at, { zone: true })],
  ];
  const dl = document.getElementById("metadata");
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "–")]));
}

function statusWords(slide) {
  if (slide.status === "ready") return t("ready");
  if (slide.status === "arriving") return formatArriving(slide.received);
  const words = { queued: t("queued"), tiling: t("preparing"), failed: t("failed") };
  return `${words[slide.status] || slide.status} (${Math.round(slide.progress * 100)}%)`;
}

export class ClassList {
  constructor(onChange) {
    this.onChange = onChange;
    this.classes = loadClasses();
    this.current = this.classes[0]?.name ?? null;
    document.getElementById("class-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const name = document.getElementById("class-name").value.trim();
      if (!name) return;
      const hex = document.getElementById("class-color").value;
      const color = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      this.classes = this.classes.filter((c) => c.name !== name).concat([{ name, color }]);
      this.current = name;
      localStorage.setItem(CLASSES_KEY, JSON.stringify(this.classes));
      document.getElementById("class-name").value = "";
      this.render();
    });
    this.render();
  }

  /** Classes seen in the slide's annotations (e.g. from QuPath) join the list. */
  learn(items) {
    let added = false;
    for (const item of items) {
      const c = item.feature.properties.classification;
      if (c?.name && !this.classes.some((k) => k.name === c.name)) {
        this.classes.push({ name: c.name, color: colorOf(c) });
        added = true;
      }
    }
    if (added) this.render();
  }

  classification() {
    const c = this.classes.find((k) => k.name === this.current);
    return c ? { name: c.name, color: [...c.color] } : undefined;
  }

  render() {
    const list = document.getElementById("classes");
    list.replaceChildren(...this.classes.map((c) => {
      const input = el("input", { type: "radio", name: "class", value: c.name });
      input.checked = c.name === this.current;
      input.addEventListener("change", () => { this.current = c.name; this.onChange(c); });
      return el("li", {}, el("label", {}, input,
        el("span", { class: "swatch", style: `background: rgb(${c.color.join(",")})` }), datum(c.name)));
    }));
  }
}

function loadClasses() {
  try {
    const saved = JSON.parse(localStorage.getItem(CLASSES_KEY));
    if (Array.isArray(saved) && saved.length) return saved;
  } catch { /* fall back to the defaults */ }
  return DEFAULT_CLASSES.map((c) => ({ ...c }));
}

/** Area and perimeter (or length, or count) of a feature, in µm when calibrated. */
export function describeSize(feature, slide) {
  const calibrated = slide.mpp_x > 0 && slide.mpp_y > 0;
  const m = measureGeometry(feature.geometry, slide.mpp_x, slide.mpp_y);
  if (m.kind === "points") return tn("{count} point", "{count} points", m.count);
  if (!calibrated) {
    const px = m.kind === "area"
      ? t("area {area} px², perimeter {perimeter} px", { area: formatCount(m.area), perimeter: formatCount(m.length) })
      : t("length {length} px", { length: formatCount(m.length) });
    return t("{sizes} (no calibration: sizes in pixels)", { sizes: px });
  }
  if (m.kind === "line") return t("length {length}", { length: formatLength(m.length) });
  return t("area {area} · perimeter {perimeter}", { area: formatArea(m.area), perimeter: formatLength(m.length) });
}

export function showSelection(feature, slide, actions) {
  const box = document.getElementById("selection");
  if (!feature) { box.replaceChildren(t("Click an annotation to select it.")); return; }
  const p = feature.properties;
  const meta = p.slidebridge || {};
  const comment = p.metadata?.comment;
  const when = formatTime(meta.updatedAt, { zone: true });
  const parts = [
    el("div", {}, p.classification?.name ? datum(p.classification.name, {}, "strong") : el("strong", {}, t("Unclassified")),
      p.metadata?.shape ? [" · ", shapeWord(p.metadata.shape)] : "", p.name ? [" · ", datum(p.name)] : ""),
    el("div", { class: "measure", id: "selection-size" }, describeSize(feature, slide)),
  ];
  if (comment) parts.push(el("div", { translate: "no" }, `“${comment}”`));
  const author = meta.updatedBy && meta.updatedBy !== meta.createdBy
    ? tNodes("by {author}, changed by {editor}", { author: datum(meta.createdBy ?? "?"), editor: datum(meta.updatedBy) })
    : tNodes("by {author}", { author: datum(meta.createdBy ?? "?") });
  parts.push(el("div", {}, ...author, ` · ${when} · v${meta.version ?? "?"}`));
  const inReport = p.metadata?.includeInReport === "true";
  if (actions.editable) {
    const box = el("input", { type: "checkbox", id: "in-report" });
    box.checked = inReport;
    box.addEventListener("change", () => actions.includeInReport(box.checked));
    parts.push(el("label", { class: "in-report" }, box, t("Include in report (pictured in the signed PDF)")));
  } else if (inReport) {
    parts.push(el("div", { id: "in-report-note" }, t("Pictured in the report")));
  }
  if (actions.editable) {
    parts.push(el("div", { class: "row" },
      el("button", { type: "button", id: "reclassify", onclick: actions.reclassify }, t("Set to current class")),
      el("button", { type: "button", id: "delete-annotation", onclick: actions.remove }, t("Delete"))));
  }
  parts.push(el("div", { class: "row" }, el("button", { type: "button", id: "show-history", onclick: actions.history }, t("Version history"))));
  parts.push(el("div", { id: "history" }));
  box.replaceChildren(...parts);
}

// What an annotation revision did, in the user's language.
const CHANGE_WORDS = { created: t("created"), updated: t("changed"), deleted: t("deleted"), restored: t("restored") };

function shapeWord(shape) {
  const words = { point: t("point"), rectangle: t("rectangle"), ellipse: t("ellipse"), polygon: t("polygon"), freehand: t("freehand"), ruler: t("ruler") };
  return words[shape] || shape;
}

export function showHistory(revisions, editable, restore) {
  const list = el("ol");
  for (const r of revisions) {
    const item = el("li", {}, ...tNodes("v{version} {change} by {author}, {time}", {
      version: r.version, change: CHANGE_WORDS[r.change] || r.change, author: datum(r.author ?? "?"), time: formatTime(r.at, { zone: true }),
    }), " ");
    if (editable && r.feature) item.append(el("button", { type: "button", class: "restore", onclick: () => restore(r.version) }, t("Restore")));
    list.append(item);
  }
  document.getElementById("history").replaceChildren(list);
}

/** Label and macro images; shown again once an arriving slide is whole. */
export function showAssociated(slide) {
  const wanted = ["label", "macro"].filter((n) => slide.associated.includes(n));
  if (!wanted.length) return;
  const box = document.getElementById("associated");
  document.getElementById("associated-box").hidden = false;
  box.replaceChildren(...wanted.map((name) => {
    const word = name === "label" ? t("label") : t("macro");
    const img = el("img", { alt: t("{name} image", { name: word }), id: `associated-${name}` });
    const caption = el("figcaption", {}, word);
    img.addEventListener("error", () => {
      img.remove();
      caption.textContent = slide.status === "arriving"
        ? t("{name}: still arriving", { name: word }) : t("{name}: not available to your role", { name: word });
    });
    img.src = `/api/slides/${slide.id}/associated/${name}`;
    return el("figure", {}, img, caption);
  }));
}
