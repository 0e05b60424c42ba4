// The pathologist's viewer: OpenSeadragon on the slide's Deep Zoom pyramid, with
// objective-equivalent magnification, a scale bar, a ruler, and annotations.
// The page is /slides/{id}; everything else comes from the API with the session cookie.
// A slide still crossing the link opens as soon as its structure is in (arrival.js).

import { api, el, formatCount, formatLength, startPage, t } from "/static/shell/shell.js";
import { STEPS, formatMagnification, imageZoomFor, magnification, micronsPerPixel, scaleBar } from "./magnification.js";
import { Overlay } from "./overlay.js";
import { AnnotationStore } from "./store.js";
import { ClassList, showAssociated, showHistory, showMetadata, showSelection } from "./panel.js";
import { Live } from "./live.js";
import { Arrival, arrivalText, waitForStructure } from "./arrival.js";
import { TileRefresh } from "./tile-refresh.js";
import { setUpCalibration } from "./calibration.js";

const TOOLS = [
  ["point", t("Point"), "p"], ["rectangle", t("Rectangle"), "b"], ["ellipse", t("Ellipse"), "e"],
  ["polygon", t("Polygon"), "g"], ["freehand", t("Freehand"), "h"], ["ruler", t("Ruler (µm)"), "m"],
];
const state = (window.slidebridge = { ready: false, firstTile: false, fullyLoaded: false, error: null });

function setStatus(text, kind = "") {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = kind;
}

function unavailable(text) {
  // Nothing to look at: hide the tools rather than leave buttons that do nothing.
  document.body.classList.add("unavailable");
  showMessage(text);
  state.error = text;
}

function showMessage(text, kind = "error") {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

async function boot() {
  const slideId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  const signedIn = startPage();
  let slide;
  try {
    slide = await api(`/api/slides/${encodeURIComponent(slideId)}`);
  } catch (error) {
    const text = error.status === 404
      ? t("This slide does not exist, or is not shared with you.")
      : t("The slide could not be opened: {reason}", { reason: error.message });
    setStatus(t("Not available"), "error");
    unavailable(text);
    return;
  }
  const me = await signedIn.catch(() => null);
  document.title = `${slide.name} · SlideBridge`;
  document.getElementById("slide-name").textContent = slide.name;
  document.getElementById("slide-site").textContent = slide.site; // both marked translate="no"
  showMetadata(slide);
  if (slide.status === "arriving") {
    slide = await structureOf(slide);
    if (!slide) return;
    showMetadata(slide);
  }
  showAssociated(slide);
  if (failed(slide)) return;
  showStatus(slide);
  start(slide, me);
}

/** Nothing to draw until the slide's structure has arrived: say so quietly, then go on. */
async function structureOf(slide) {
  showMessage(t("Receiving the slide's structure: the picture appears in a moment."), "info");
  const progress = (received) => setStatus(arrivalText(received), "arriving");
  try {
    slide = await waitForStructure(slide, progress);
  } catch (error) {
    setStatus(t("Not available"), "error");
    unavailable(t("The slide could not be opened: {reason}", { reason: error.message }));
    return null;
  }
  showMessage("");
  return slide;
}

function failed(slide) {
  if (slide.status !== "failed") return false;
  const text = slide.error
    ? t("This slide failed to process: {reason}. Ask the site to scan or upload it again.", { reason: slide.error })
    : t("This slide failed to process. Ask the site to scan or upload it again.");
  setStatus(t("Failed"), "error");
  unavailable(text);
  return true;
}

function showStatus(slide) {
  if (slide.status === "arriving") setStatus(arrivalText(slide.received), "arriving");
  else if (slide.status !== "ready") {
    setStatus(t("Preparing: {percent}% (tiles made on the fly meanwhile)", { percent: Math.round(slide.progress * 100) }), "warn");
  } else setStatus(t("Loading tiles…"));
}

// OpenSeadragon's own tooltips (its navigation buttons), in the user's language.
function osdStrings() {
  const strings = {
    "Tooltips.FullPage": t("Toggle full page"), "Tooltips.Home": t("Go home"), "Tooltips.ZoomIn": t("Zoom in"),
    "Tooltips.ZoomOut": t("Zoom out"), "Tooltips.RotateLeft": t("Rotate left"), "Tooltips.RotateRight": t("Rotate right"),
    "Tooltips.Flip": t("Flip horizontally"),
  };
  for (const [key, text] of Object.entries(strings)) OpenSeadragon.setString(key, text);
}

function start(slide, me) {
  osdStrings();
  const viewer = OpenSeadragon({
    id: "osd",
    prefixUrl: "/static/vendor/openseadragon/images/",
    tileSources: `/dzi/${slide.id}.dzi`,
    loadTilesWithAjax: true,
    ajaxWithCredentials: true,
    drawer: "canvas",
    showNavigator: true,
    // While the slide arrives the navigator carries its map of what is still coarse.
    navigatorAutoFade: slide.status !== "arriving",
    navigatorPosition: "BOTTOM_RIGHT",
    showNavigationControl: false,
    showRotationControl: false,
    animationTime: 0.4,
    maxZoomPixelRatio: 4,
    visibilityRatio: 0.5,
    constrainDuringPan: true,
    viewportMargins: { top: 48 }, // keep the whole slide clear of the toolbar when fitted
  });
  state.viewer = viewer;
  // Before the slide opens, so that every tile's answer (final or interim) is seen.
  const refresh = slide.status === "arriving" ? new TileRefresh(viewer) : null;
  const store = new AnnotationStore(slide.id);
  const overlay = new Overlay(viewer, document.getElementById("overlay"), store, slide);
  state.store = store;
  state.overlay = overlay;
  const editable = me?.role === "pathologist";
  let readOnly = !editable;
  const classes = new ClassList(() => {});
  let selected = null;

  viewer.addHandler("open", () => { state.ready = true; });
  // Our keys (below) own R, F and the digits; OpenSeadragon would rotate or flip again.
  viewer.addHandler("canvas-key", (e) => {
    if (/^[rf0-9]$/i.test(e.originalEvent.key) || state.following) e.preventDefaultAction = true;
  });
  viewer.addHandler("open-failed", (e) => {
    const text = t("The slide's tiles could not be loaded ({reason}).", { reason: e.message });
    setStatus(t("Tiles unavailable"), "error");
    showMessage(text);
    state.error = text;
  });
  viewer.addHandler("tile-drawn", () => {
    if (state.firstTile) return;
    state.firstTile = true;
    state.firstTileMs = performance.now();
    if (slide.status === "ready") setStatus(t("Ready"), "ok");
  });
  viewer.world.addHandler("add-item", (e) => {
    e.item.addHandler("fully-loaded-change", (ev) => { state.fullyLoaded = ev.fullyLoaded; });
  });

  // --- magnification, scale bar ----------------------------------------------------
  const readout = document.getElementById("mag-readout");
  const imageZoom = () => viewer.viewport.viewportToImageZoom(viewer.viewport.getZoom(true));
  const magButtons = document.getElementById("mag-buttons");
  STEPS.forEach((step, i) => {
    magButtons.append(el("button", { type: "button", "data-mag": String(step), title: t("{magnification} (key {key})", { magnification: formatMagnification(step), key: i + 1 }),
      onclick: () => jump(step) }, formatMagnification(step)));
  });
  function jump(step) {
    const z = imageZoomFor(slide, step);
    if (z === null) return;
    viewer.viewport.zoomTo(viewer.viewport.imageToViewportZoom(z));
  }
  function updateScale() {
    const z = imageZoom();
    state.imageZoom = z;
    const mag = magnification(slide, z);
    state.magnification = mag;
    readout.textContent = mag === null ? t("zoom {zoom} (no calibration)", { zoom: z.toFixed(2) }) : t("{magnification} equivalent", { magnification: formatMagnification(mag) });
    const bar = scaleBar(micronsPerPixel(slide), z);
    const line = document.getElementById("scalebar-line");
    const text = document.getElementById("scalebar-text");
    if (bar) {
      line.style.width = `${bar.px}px`;
      line.hidden = false;
      text.textContent = bar.label;
    } else {
      line.hidden = true;
      text.textContent = t("no calibration: scale unknown");
    }
  }
  viewer.addHandler("update-viewport", updateScale);
  function enableSteps() {
    const off = !micronsPerPixel(slide) && !slide.objective_power;
    for (const b of magButtons.querySelectorAll("button")) b.disabled = off;
  }
  enableSteps();
  // A user's calibration changes `slide` in place: the overlay and panel read it from there.
  setUpCalibration(slide, me, () => {
    showMetadata(slide);
    enableSteps();
    updateScale();
    overlay.schedule();
    if (selected) select(selected);
  });

  // --- toolbar ---------------------------------------------------------------------
  const toolBox = document.getElementById("tools");
  const toolButtons = new Map();
  for (const [tool, label, key] of TOOLS) {
    const button = el("button", { type: "button", "data-tool": tool, "aria-pressed": "false", title: `${label} (${key.toUpperCase()})`,
      onclick: () => selectTool(overlay.tool === tool ? null : tool) }, label);
    toolButtons.set(tool, button);
    toolBox.append(button);
  }
  function selectTool(tool) {
    if (tool && tool !== "ruler" && readOnly) return;
    if (tool && state.following) return;
    overlay.setTool(tool);
    for (const [name, button] of toolButtons) button.setAttribute("aria-pressed", String(name === tool));
    if (tool !== "ruler") document.getElementById("measure-readout").hidden = true;
  }
  function refreshToolAccess() {
    for (const [name, button] of toolButtons) button.disabled = state.following ? true : name !== "ruler" && readOnly;
  }
  refreshToolAccess();
  document.querySelector('[data-action="rotate"]').addEventListener("click", () => rotate());
  document.querySelector('[data-action="home"]').addEventListener("click", () => viewer.viewport.goHome());
  document.querySelector('[data-action="fullscreen"]').addEventListener("click", () => toggleFullScreen());
  function rotate() { viewer.viewport.setRotation((viewer.viewport.getRotation() + 90) % 360); }
  function toggleFullScreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else document.getElementById("stage").requestFullscreen?.();
  }

  overlay.onRuler = (m) => {
    const box = document.getElementById("measure-readout");
    box.hidden = !m;
    if (!m) return;
    box.textContent = m.um === null ? t("{pixels} px (no calibration)", { pixels: formatCount(m.px) }) : formatLength(m.um);
    state.ruler = m;
  };

  // --- annotations -------------------------------------------------------------------
  const errorBox = document.getElementById("annotation-error");
  overlay.onShape = async (geometry, shape) => {
    const comment = document.getElementById("comment").value.trim();
    const metadata = { shape };
    if (comment) metadata.comment = comment;
    const feature = { type: "Feature", geometry, properties: { objectType: "annotation", metadata } };
    const classification = classes.classification();
    if (classification) feature.properties.classification = classification;
    errorBox.textContent = "";
    try {
      const [written] = await store.add(feature);
      select(written.id);
    } catch (error) {
      errorBox.textContent = t("Not saved: {reason}", { reason: error.message });
    }
  };
  function select(id) {
    selected = id;
    overlay.selected = id;
    overlay.schedule();
    const item = id && store.items.get(id);
    state.selected = id;
    showSelection(item?.feature, slide, {
      editable: !readOnly,
      remove: async () => { await store.remove(id).catch((e) => { errorBox.textContent = e.message; }); select(null); },
      includeInReport: async (included) => {
        const feature = structuredClone(store.items.get(id).feature);
        feature.properties.metadata = { ...(feature.properties.metadata || {}), includeInReport: included ? "true" : "false" };
        await store.update(feature).catch((e) => { errorBox.textContent = e.message; });
        select(id);
      },
      reclassify: async () => {
        const feature = structuredClone(store.items.get(id).feature);
        feature.properties.classification = classes.classification();
        await store.update(feature).catch((e) => { errorBox.textContent = e.message; });
        select(id);
      },
      history: async () => {
        const revisions = await store.history(id);
        showHistory(revisions, !readOnly, async (version) => {
          await store.restore(id, version).catch((e) => { errorBox.textContent = e.message; });
          select(id);
        });
      },
    });
  }
  store.addEventListener("change", (e) => {
    document.getElementById("annotation-count").textContent = String(store.items.size);
    classes.learn(store.items.values());
    if (selected && !store.items.has(selected)) select(null);
    else if (selected && e.detail.feature?.id === selected) select(selected);
  });
  viewer.addHandler("canvas-click", (e) => {
    if (!e.quick || overlay.tool) return;
    select(overlay.pick(e.position.x, e.position.y));
  });
  store.load().then(() => { state.annotationsLoaded = true; }).catch((error) => {
    errorBox.textContent = t("Annotations could not be loaded: {reason}", { reason: error.message });
  });

  document.getElementById("export").addEventListener("click", async () => {
    const text = await store.exportText();
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/geo+json" })),
      download: `${slide.name.replace(/\.[^.]+$/, "")}.geojson` });
    document.body.append(link);
    link.click();
    link.remove();
  });
  document.getElementById("import").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    errorBox.textContent = "";
    try {
      const features = await store.add(JSON.parse(await file.text()));
      errorBox.textContent = "";
      state.imported = features.length;
    } catch (error) {
      errorBox.textContent = t("Import refused: {reason}", { reason: error.message });
    }
  });

  // --- live --------------------------------------------------------------------------
  const live = new Live({ slideId: slide.id, viewer, overlay, store, me,
    onFollowChange: (presenter) => {
      state.following = presenter;
      readOnly = !editable || Boolean(presenter);
      if (presenter) selectTool(null);
      refreshToolAccess();
      select(selected);
    } });
  live.connect();
  state.live = live;
  if (refresh) {
    state.arrival = new Arrival({ slide, viewer, source: live.source, refresh,
      onProgress: (received) => {
        slide.received = received;
        setStatus(arrivalText(received), "arriving");
        showMetadata(slide);
      },
      onEnd: (status, error) => arrived(status, error) });
  }
  async function arrived(status, error) {
    if (status === "failed") {
      setStatus(t("Failed"), "error");
      showMessage(error
        ? t("The slide's transfer failed: {reason}. What arrived stays on screen; ask the site to send it again.", { reason: error })
        : t("The slide's transfer failed. What arrived stays on screen; ask the site to send it again."));
      return;
    }
    // The whole file is in and verified: the viewer is an ordinary one from here.
    const fresh = await api(`/api/slides/${slide.id}`).catch(() => null);
    if (!fresh) return;
    Object.assign(slide, fresh);
    showMetadata(slide);
    showAssociated(slide);
    showStatus(slide);
  }

  // --- keys ----------------------------------------------------------------------------
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key.toLowerCase();
    if (state.following) return; // a follower's view belongs to the presenter
    if (key >= "1" && key <= "5") jump(STEPS[Number(key) - 1]);
    else if (key === "0") viewer.viewport.goHome();
    else if (key === "r") rotate();
    else if (key === "f") toggleFullScreen();
    else if (key === "escape") { overlay.cancel(); selectTool(null); }
    else if (key === "enter") overlay.finishPolygon();
    else if ((key === "delete" || key === "backspace") && selected && !readOnly) store.remove(selected).then(() => select(null));
    else {
      const tool = TOOLS.find(([, , k]) => k === key);
      if (!tool) return;
      selectTool(overlay.tool === tool[0] ? null : tool[0]);
    }
    e.preventDefault();
  });
  viewer.container.focus?.();
}

boot();
