// The signed-in user's start page: the slides they may see (the API applies the site
// rules), with their preparation status kept current.

import { api, datum, el, formatArriving, formatBytes, formatMpp, formatPixels, formatTime, startPage, t } from "/static/shell/shell.js";

const REFRESH_MS = 4000;

const $ = (id) => document.getElementById(id);
let slides = [];

function statusText(slide) {
  if (slide.status === "arriving") {
    const when = slide.width ? t("viewable now") : t("viewable in a moment");
    return `${formatArriving(slide.received)} · ${when}`;
  }
  if (slide.status === "tiling") return t("preparing {percent}% · viewable now", { percent: Math.round(slide.progress * 100) });
  if (slide.status === "queued") return t("queued · viewable now");
  return slideStatusWord(slide.status);
}

/** A slide's status in the user's language. */
export function slideStatusWord(status) {
  const words = { ready: t("ready"), failed: t("failed"), queued: t("queued"), tiling: t("preparing"), arriving: t("arriving") };
  return words[status] || status;
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
      el("div", { class: "name", translate: "no" }, slide.name),
      factLine(datum(slide.site), datum(slide.vendor), formatPixels(slide.width, slide.height), formatMpp(slide.mpp_x) || t("no calibration")),
      factLine(t("added {time}", { time: formatTime(slide.created_at) }), formatBytes(slide.size_bytes)),
      el("span", { class: `status ${slide.status}` }, statusText(slide)),
      slide.error ? el("div", { class: "error-text", translate: "no" }, slide.error) : null)));
}

function render() {
  const words = $("filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const shown = slides.filter((s) => {
    const text = `${s.name} ${s.site} ${s.vendor}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
  $("slides").replaceChildren(...shown.map(card));
  $("message").textContent = slides.length === 0
    ? t("No slides yet. Slides uploaded at your sites appear here.")
    : t("{shown} of {total} slides", { shown: shown.length, total: slides.length });
}

async function refresh() {
  try {
    const list = await api("/api/slides?limit=500");
    slides = list.items;
    $("message").classList.remove("error");
    render();
  } catch (error) {
    $("message").textContent = t("Could not load the slides ({reason}); retrying.", { reason: error.message });
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
