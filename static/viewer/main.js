// The pathologist's viewer: OpenSeadragon on the slide's Deep Zoom pyramid, with
// objective-equivalent magnification, a scale bar, a ruler, and annotations.
// The page is /slides/{id}; everything else comes from the API with the session cookie.
// A slide still crossing the link opens as soon as its structure is in (arrival.js).

import { api, el, formatCount, formatLength, startPage } from "/static/shell/shell.js";
import { STEPS, formatMagnification, imageZoomFor, magnification, micronsPerPixel, scaleBar } from "./magnification.js";
import { Overlay } from "./overlay.js";
import { AnnotationStore } from "./store.js";
import { ClassList, showAssociated, showHistory, showMetadata, showSelection } from "./panel.js";
import { Live } from "./live.js";
import { Arrival, arrivalText, waitForStructure } from "./arrival.js";
import { TileRefresh } from "./tile-refresh.js";

const TOOLS = [
  ["point", "Point", "p"], ["rectangle", "Rectangle", "b"], ["ellipse", "Ellipse", "e"],
  ["polygon", "Polygon", "g"], ["freehand", "Freehand", "h"], ["ruler", "Ruler (µm)", "m"],
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
      ? "This slide does not exist, or is not shared with you."
      : `The slide could not be opened: ${error.message}`;
    setStatus("Not available", "error");
    unavailable(text);
    return;
  }
  const me = await signedIn.catch(() => null);
  document.title = `${slide.name} · SlideBridge`;
  document.getElementById("slide-name").textContent = slide.name;
  document.getElementById("slide-site").textContent = slide.site;
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
  showMessage("Receiving the slide's structure: the picture appears in a moment.", "info");
  const progress = (received) => setStatus(arrivalText(received), "arriving");
  try {
    slide = await waitForStructure(slide, progress);
  } catch (error) {
    setStatus("Not available", "error");
    unavailable(`The slide could not be opened: ${error.message}`);
    return null;
  }
  showMessage("");
  return slide;
}

function failed(slide) {
  if (slide.status !== "failed") return false;
  const text = `This slide failed to process${slide.error ? `: ${slide.error}` : ""}. Ask the site to scan or upload it again.`;
  setStatus("Failed", "error");
  unavailable(text);
  return true;
}

function showStatus(slide) {
  if (slide.status === "arriving") setStatus(arrivalText(slide.received), "arriving");
  else if (slide.status !== "ready") {
    setStatus(`Preparing: ${Math.round(slide.progress * 100)}% (tiles made on the fly meanwhile)`, "warn");
  } else setStatus("Loading tiles…");
}

function start(slide, me) {
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
    const text = `The slide's tiles could not be loaded (${e.message}).`;
    setStatus("Tiles unavailable", "error");
    showMessage(text);
    state.error = text;
  });
  viewer.addHandler("tile-drawn", () => {
    if (state.firstTile) return;
    state.firstTile = true;
    state.firstTileMs = performance.now();
    if (slide.status === "ready") setStatus("Ready", "ok");
  });
  viewer.world.addHandler("add-item", (e) => {
    e.item.addHandler("fully-loaded-change", (ev) => { state.fullyLoaded = ev.fullyLoaded; });
  });

  // --- magnification, scale bar ----------------------------------------------------
  const readout = document.getElementById("mag-readout");
  const mpp = micronsPerPixel(slide);
  const imageZoom = () => viewer.viewport.viewportToImageZoom(viewer.viewport.getZoom(true));
  const magButtons = document.getElementById("mag-buttons");
  STEPS.forEach((step, i) => {
    magButtons.append(el("button", { type: "button", "data-mag": String(step), title: `${formatMagnification(step)} (key ${i + 1})`,
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
    readout.textContent = mag === null ? `zoom ${z.toFixed(2)} (no calibration)` : `${formatMagnification(mag)} equivalent`;
    const bar = scaleBar(mpp, z);
    const line = document.getElementById("scalebar-line");
    const text = document.getElementById("scalebar-text");
    if (bar) {
      line.style.width = `${bar.px}px`;
      line.hidden = false;
      text.textContent = bar.label;
    } else {
      line.hidden = true;
      text.textContent = "no calibration: scale unknown";
    }
  }
  viewer.addHandler("update-viewport", updateScale);
  if (!mpp && !slide.objective_power) for (const b of magButtons.querySelectorAll("button")) b.disabled = true;

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
    box.textContent = m.um === null ? `${formatCount(m.px)} px (no calibration)` : formatLength(m.um);
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
      errorBox.textContent = `Not saved: ${error.message}`;
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
    errorBox.textContent = `Annotations could not be loaded: ${error.message}`;
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
      errorBox.textContent = `Import refused: ${error.message}`;
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
      setStatus("Failed", "error");
      showMessage(`The slide's transfer failed${error ? `: ${error}` : ""}. What arrived stays on screen; ask the site to send it again.`);
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
