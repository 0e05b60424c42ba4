// The signed-in user's start page: the slides they may see (the API applies the site
// rules), with their preparation status kept current.

import { api, el, formatArriving, formatBytes, formatMpp, formatPixels, formatTime, startPage } from "/static/shell/shell.js";

const REFRESH_MS = 4000;

const $ = (id) => document.getElementById(id);
let slides = [];

function statusText(slide) {
  if (slide.status === "arriving") return `${formatArriving(slide.received)} · ${slide.width ? "viewable now" : "viewable in a moment"}`;
  if (slide.status === "tiling") return `preparing ${Math.round(slide.progress * 100)}% · viewable now`;
  if (slide.status === "queued") return "queued · viewable now";
  return slide.status;
}

// An arriving slide's thumbnail sharpens: asked again at each tenth of its bytes (the
// browser keeps a thumbnail for five minutes).
function thumbnailUrl(slide) {
  const url = `/api/slides/${slide.id}/thumbnail`;
  return slide.status === "arriving" ? `${url}?arriving=${Math.floor(slide.received * 10)}` : url;
}

// One span a fact, so a line breaks between facts and never inside "0.499 µm/px".
function factLine(...facts) {
  return el("div", { class: "facts" }, facts.flatMap((fact, i) => [i ? " · " : null, el("span", {}, fact)]));
}

function card(slide) {
  const thumb = el("div", { class: "thumb" });
  if (slide.status !== "failed" && slide.width) thumb.style.backgroundImage = `url("${thumbnailUrl(slide)}")`;
  return el("li", {}, el("a", { href: `/slides/${slide.id}`, "data-slide": slide.id }, thumb,
    el("div", { class: "card" },
      el("div", { class: "name" }, slide.name),
      factLine(slide.site, slide.vendor, formatPixels(slide.width, slide.height), formatMpp(slide.mpp_x) || "no calibration"),
      factLine(`added ${formatTime(slide.created_at)}`, formatBytes(slide.size_bytes)),
      el("span", { class: `status ${slide.status}` }, statusText(slide)),
      slide.error ? el("div", { class: "error-text" }, slide.error) : null)));
}

function render() {
  const words = $("filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const shown = slides.filter((s) => {
    const text = `${s.name} ${s.site} ${s.vendor}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
  $("slides").replaceChildren(...shown.map(card));
  $("message").textContent = slides.length === 0
    ? "No slides yet. Slides uploaded at your sites appear here."
    : `${shown.length} of ${slides.length} slides`;
}

async function refresh() {
  try {
    const list = await api("/api/slides?limit=500");
    slides = list.items;
    $("message").classList.remove("error");
    render();
  } catch (error) {
    $("message").textContent = `Could not load the slides (${error.message}); retrying.`;
    $("message").classList.add("error");
  }
  // Poll only while something is still being prepared.
  if (slides.some((s) => ["arriving", "queued", "tiling"].includes(s.status))) setTimeout(refresh, REFRESH_MS);
}

async function main() {
  const me = await startPage();
  // A trainee's slides are the teaching copies, met through their collections.
  if (me.role === "trainee") return location.replace("/teaching");
  $("filter").addEventListener("input", render);
  await refresh();
}

main();
