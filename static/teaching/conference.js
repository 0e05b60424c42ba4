// A conference: everyone follows the presenter's view of the collection's copies (slide,
// viewport, pointer, annotations) read-only; the teacher hands the pointer to a participant
// who raised a hand, takes it back, ends the conference. The walkthrough replays the path.
// Built on the viewer's follow-me (viewer/live.js: the same view shape, sent every 100 ms).

import { api, el, formatCount, liveEvents, startPage, t } from "/static/shell/shell.js";
import { SlideView } from "/static/teaching/slide-view.js";
import { SEND_INTERVAL_MS, applyView, viewOf } from "/static/viewer/live.js";

const $ = (id) => document.getElementById(id);
const conferenceId = location.pathname.split("/").pop();
const view = new SlideView();
const client = crypto.randomUUID();
let me, room, copies = [], lastSent = 0, timer = null, pointer = null, showing = false, replaying = false;
let shownAnnotations = null;

const presenting = () => room && !room.ended_at && room.presenter === me.username && !replaying;
const teaching = () => room && room.teacher === me.username;

async function annotationsFor(slideId, on) {
  const key = on ? slideId : null;
  if (key === shownAnnotations) return;
  shownAnnotations = key;
  view.show(on ? await api(`/api/teaching/conferences/${conferenceId}/annotations/${slideId}`) : null);
}

async function follow(v) {
  if (presenting() || replaying) return;
  await view.open(v.slide);
  applyView(view.viewer, view.overlay, v);
  $("slide-choice").value = v.slide;
  await annotationsFor(v.slide, v.annotations);
}

function send() {
  if (!presenting() || timer) return;
  const wait = Math.max(0, lastSent + SEND_INTERVAL_MS - performance.now());
  timer = setTimeout(() => {
    timer = null;
    lastSent = performance.now();
    const body = { ...viewOf(view.viewer, pointer), slide: view.slideId, annotations: showing, client };
    api(`/api/teaching/conferences/${conferenceId}/view`, { json: body }).catch(() => {}); // the next move resends
  }, wait);
}

function renderRoom() {
  $("pointer-holder").textContent = room.presenter === me.username ? t("you ({name})", { name: me.username }) : room.presenter;
  $("count").textContent = `(${formatCount(room.participants.length)})`;
  const mine = room.participants.find((p) => p.username === me.username);
  $("hand").hidden = teaching() || !mine || !!room.ended_at;
  $("hand").textContent = mine?.hand_raised ? t("Lower hand") : t("Raise hand");
  $("take-back").hidden = !teaching() || room.presenter === me.username || !!room.ended_at;
  $("end").hidden = !teaching() || !!room.ended_at;
  $("presenter-tools").hidden = !presenting();
  $("participants").replaceChildren(...room.participants.map((p) => el("li", { "data-user": p.username },
    p.username, p.username === room.presenter ? " · " + t("presenting") : "",
    p.hand_raised ? el("span", { class: "hand" }, " · " + t("hand raised")) : "",
    teaching() && !room.ended_at && p.username !== room.presenter
      ? el("button", { type: "button", class: "give", onclick: () => handOver(p.username) }, t("Give the pointer")) : "")));
  $("state").textContent = room.ended_at ? t("ended") : presenting() ? t("you present: the room follows you") : t("following {name} (read-only)", { name: room.presenter });
  document.body.dataset.presenting = String(presenting());
  if (view.viewer) view.readOnly(!presenting() && !replaying);
}

async function handOver(username) {
  await api(`/api/teaching/conferences/${conferenceId}/pointer`, { json: { username } });
}

async function replay() {
  const steps = await api(`/api/teaching/conferences/${conferenceId}/walkthrough`);
  if (!steps.length) return ($("message").textContent = t("Nothing to replay yet."));
  replaying = true;
  renderRoom();
  for (let i = 0; i < steps.length; i++) {
    $("state").textContent = t("replaying step {step} of {steps}", { step: i + 1, steps: steps.length });
    await view.open(steps[i].slide_id);
    applyView(view.viewer, view.overlay, steps[i].view);
    const next = steps[i + 1];
    const gap = next ? Math.min(500, Date.parse(next.at) - Date.parse(steps[i].at)) : 0;
    await new Promise((r) => setTimeout(r, Math.max(gap, 50)));
  }
  document.body.dataset.replayed = String(steps.length);
  replaying = false;
  renderRoom();
}

async function main() {
  me = await startPage();
  room = await api(`/api/teaching/conferences/${conferenceId}`);
  if (room.teacher !== me.username && !room.ended_at) room = await api(`/api/teaching/conferences/${conferenceId}/join`, { method: "POST" });
  $("back").href = `/teaching/collections/${room.collection_id}`;
  if (room.av_link) {
    $("av").hidden = false;
    Object.assign($("av-link"), { href: room.av_link, textContent: room.av_link });
  }
  const collection = await api(`/api/teaching/collections/${room.collection_id}`);
  $("title").textContent = `${t("Conference")} · ${collection.name}`;
  copies = collection.items.flatMap((item) => item.slides.map((id, n) => ({ id, label: item.slides.length > 1 ? t("{title}, slide {number}", { title: item.title, number: n + 1 }) : item.title })));
  $("slide-choice").replaceChildren(...copies.map((c) => el("option", { value: c.id }, c.label)));
  if (room.slide_id || copies.length) await view.open(room.slide_id || copies[0].id);
  view.viewer.addHandler("viewport-change", send);
  $("stage").addEventListener("pointermove", (e) => {
    if (!presenting()) return;
    const r = $("stage").getBoundingClientRect();
    pointer = view.overlay.toImage(e.clientX - r.left, e.clientY - r.top);
    send();
  });
  $("slide-choice").addEventListener("change", async (e) => { await view.open(e.target.value); await annotationsFor(view.slideId, showing); send(); });
  $("show-annotations").addEventListener("change", async (e) => { showing = e.target.checked; await annotationsFor(view.slideId, showing); send(); });
  $("hand").addEventListener("click", () => api(`/api/teaching/conferences/${conferenceId}/hand`,
    { json: { raised: $("hand").textContent === "Raise hand" } }));
  $("take-back").addEventListener("click", () => handOver(me.username));
  $("end").addEventListener("click", () => api(`/api/teaching/conferences/${conferenceId}/end`, { method: "POST" }));
  $("replay").addEventListener("click", replay);
  const events = liveEvents(`/api/teaching/conferences/${conferenceId}/events`);
  events.addEventListener("ready", async () => {
    // After a (re)connect: the room as the rows say now.
    room = await api(`/api/teaching/conferences/${conferenceId}`);
    renderRoom();
    document.body.dataset.live = "connected";
  });
  events.addEventListener("view", (e) => { const v = JSON.parse(e.data); if (v.client !== client) follow(v); });
  events.addEventListener("room", (e) => { room = JSON.parse(e.data); renderRoom(); send(); });
  events.addEventListener("ended", () => { room.ended_at = new Date().toISOString(); renderRoom(); events.close(); });
  window.addEventListener("pagehide", () => {
    if (!teaching()) navigator.sendBeacon?.(`/api/teaching/conferences/${conferenceId}/leave`);
  });
  renderRoom();
  send();
  // For scripts and tests: the viewer and the room as this page sees them.
  window.slidebridgeConference = { view, room: () => room };
}

main().catch((error) => { $("message").textContent = error.message; });
