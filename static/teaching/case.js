// A teaching case: the de-identified slide, the trainee's answer, then the expert's report
// and annotations beside it (drawn by the viewer's own annotation layer, read-only).

import { api, el, formatTime, startPage, t, tn } from "/static/shell/shell.js";
import { SlideView } from "/static/teaching/slide-view.js";

const $ = (id) => document.getElementById(id);
const itemId = location.pathname.split("/").pop();
const view = new SlideView();
let expert = null, shown = null;

function box(category, text, by) {
  return [el("div", { class: "category" }, category || "no category"), el("p", {}, text || "—"),
    by ? el("div", { class: "muted" }, by) : null];
}

function openSlide(slideId) {
  shown = slideId;
  for (const b of $("slides-nav").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.slide === slideId));
  view.open(slideId);
  showAnnotations();
}

function showAnnotations() {
  const features = expert?.slides[shown]?.features || [];
  view.show({ type: "FeatureCollection", features });
  $("annotation-note").textContent = expert
    ? tn("{count} expert annotation drawn on this slide.", "{count} expert annotations drawn on this slide.", features.length) : "";
}

async function reveal(item) {
  $("answer-form").hidden = true;
  $("compare").hidden = false;
  const a = item.answer;
  $("mine").replaceChildren(...(a ? box(a.category_label, a.text, `${formatTime(a.answered_at, { zone: true })} · ${a.agrees ? t("same category as the expert") : t("another category than the expert")}`)
    : box(null, t("(teachers do not answer)"))));
  $("expert").replaceChildren(...box(item.category_label || t("no report (a single slide)"), item.diagnosis,
    item.reported_by ? t("reported by {name}", { name: item.reported_by }) : null));
  expert = await api(`/api/teaching/items/${itemId}/annotations`);
  showAnnotations();
}

const me = await startPage();
try {
  const item = await api(`/api/teaching/items/${itemId}`);
  document.title = `${item.title} · ${t("Teaching")} · SlideBridge`;
  $("title").textContent = item.title;
  $("facts").textContent = [item.specimen_site, item.kind === "case" ? t("reported case") : t("single slide")].filter(Boolean).join(" · ");
  $("slides-nav").replaceChildren(...item.slides.map((id, n) =>
    el("button", { type: "button", "data-slide": id, onclick: () => openSlide(id) }, t("Slide {number}", { number: n + 1 }))));
  openSlide(item.slides[0]);
  if (item.answer || me.role !== "trainee") {
    await reveal(item);
  } else {
    $("answer-form").hidden = false;
    $("answer-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const answered = await api(`/api/teaching/items/${itemId}/answer`, { json: Object.fromEntries(new FormData(event.target)) });
        await reveal(answered);
      } catch (error) {
        $("message").textContent = error.message;
      }
    });
  }
} catch (error) {
  $("message").textContent = error.message;
}
