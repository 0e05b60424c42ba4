// The side panel: slide metadata, the class list, the selected annotation with its
// sizes and history, label and macro images. Text goes in with textContent only.

import { el, formatArea, formatArriving, formatBytes, formatCount, formatLength, formatPixels, formatTime } from "/static/shell/shell.js";
import { measureGeometry } from "./geometry.js";
import { colorOf } from "./store.js";

export const DEFAULT_CLASSES = [
  { name: "Tumour", color: [200, 0, 0] },
  { name: "Margin", color: [0, 160, 0] },
  { name: "Necrosis", color: [120, 60, 20] },
  { name: "Lymph node", color: [0, 90, 200] },
];
const CLASSES_KEY = "slidebridge.classes";

export function showMetadata(slide) {
  const rows = [
    ["Name", slide.name],
    ["Site", slide.site],
    ["Status", statusWords(slide)],
    ["Scanner", slide.vendor],
    ["Size", formatPixels(slide.width, slide.height)],
    ["Pixel size", slide.mpp_x ? `${slide.mpp_x.toFixed(4)} × ${slide.mpp_y.toFixed(4)} µm` : "no calibration"],
    ["Objective", slide.objective_power ? `${slide.objective_power}×` : "not recorded"],
    ["Levels", String(slide.levels.length)],
    ["File", formatBytes(slide.size_bytes)],
    ["Added", formatTime(slide.created_at, { zone: true })],
  ];
  const dl = document.getElementById("metadata");
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "–")]));
}

function statusWords(slide) {
  if (slide.status === "ready") return "ready";
  if (slide.status === "arriving") return formatArriving(slide.received);
  return `${slide.status} (${Math.round(slide.progress * 100)}%)`;
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
        el("span", { class: "swatch", style: `background: rgb(${c.color.join(",")})` }), c.name));
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
  if (m.kind === "points") return `${m.count} point${m.count === 1 ? "" : "s"}`;
  if (!calibrated) {
    const px = m.kind === "area" ? `area ${formatCount(m.area)} px², perimeter ${formatCount(m.length)} px` : `length ${formatCount(m.length)} px`;
    return `${px} (no calibration: sizes in pixels)`;
  }
  if (m.kind === "line") return `length ${formatLength(m.length)}`;
  return `area ${formatArea(m.area)} · perimeter ${formatLength(m.length)}`;
}

export function showSelection(feature, slide, actions) {
  const box = document.getElementById("selection");
  if (!feature) { box.replaceChildren("Click an annotation to select it."); return; }
  const p = feature.properties;
  const meta = p.slidebridge || {};
  const comment = p.metadata?.comment;
  const when = formatTime(meta.updatedAt, { zone: true });
  const parts = [
    el("div", {}, el("strong", {}, p.classification?.name || "Unclassified"),
      p.metadata?.shape ? ` · ${p.metadata.shape}` : "", p.name ? ` · ${p.name}` : ""),
    el("div", { class: "measure", id: "selection-size" }, describeSize(feature, slide)),
  ];
  if (comment) parts.push(el("div", {}, `“${comment}”`));
  parts.push(el("div", {}, `by ${meta.createdBy ?? "?"}${meta.updatedBy && meta.updatedBy !== meta.createdBy ? `, changed by ${meta.updatedBy}` : ""} · ${when} · v${meta.version ?? "?"}`));
  const inReport = p.metadata?.includeInReport === "true";
  if (actions.editable) {
    const box = el("input", { type: "checkbox", id: "in-report" });
    box.checked = inReport;
    box.addEventListener("change", () => actions.includeInReport(box.checked));
    parts.push(el("label", { class: "in-report" }, box, "Include in report (pictured in the signed PDF)"));
  } else if (inReport) {
    parts.push(el("div", { id: "in-report-note" }, "Pictured in the report"));
  }
  if (actions.editable) {
    parts.push(el("div", { class: "row" },
      el("button", { type: "button", id: "reclassify", onclick: actions.reclassify }, "Set to current class"),
      el("button", { type: "button", id: "delete-annotation", onclick: actions.remove }, "Delete")));
  }
  parts.push(el("div", { class: "row" }, el("button", { type: "button", id: "show-history", onclick: actions.history }, "History")));
  parts.push(el("div", { id: "history" }));
  box.replaceChildren(...parts);
}

export function showHistory(revisions, editable, restore) {
  const list = el("ol");
  for (const r of revisions) {
    const item = el("li", {}, `v${r.version} ${r.change} by ${r.author ?? "?"}, ${formatTime(r.at, { zone: true })} `);
    if (editable && r.feature) item.append(el("button", { type: "button", class: "restore", onclick: () => restore(r.version) }, "Restore"));
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
    const img = el("img", { alt: `${name} image`, id: `associated-${name}` });
    const caption = el("figcaption", {}, name);
    img.addEventListener("error", () => {
      img.remove();
      caption.textContent = slide.status === "arriving" ? `${name}: still arriving` : `${name}: not available to your role`;
    });
    img.src = `/api/slides/${slide.id}/associated/${name}`;
    return el("figure", {}, img, caption);
  }));
}
