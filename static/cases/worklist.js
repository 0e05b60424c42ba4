// The pathologist's worklist: the cases of the covered sites, urgent first, with live
// clocks (amber at 10, red at 15 minutes), slide status and who claimed each. One event
// stream (/api/cases/events) keeps it current without a reload; a new urgent case beeps
// (WebAudio, no sound file) and raises a browser notification when permitted.

import { api, datum, el, formatElapsed, formatTime, startPage, t, tNodes } from "/static/shell/shell.js";
import { choiceWord, Clock, clockClass, CaseStream, showLink, STATUS_WORDS, slideStateText } from "./common.js";

// Every word this page adds that is not data: one place, for the translation catalog.
const WORDS = {
  askedOfYou: (o) => `${o.asked_by} asks ${o.asked_of === me.username ? "you" : `${o.asked_of} (you among them)`}: “${o.note}”`,
  asked: (o) => `opinion asked of ${o.asked_of}`,
  answered: (o) => `opinion given by ${o.answered_by}`,
  answer: "Open and answer",
};

const cases = new Map();   // id -> case snapshot
const clocks = new Map();  // id -> Clock
const state = (window.slidebridgeCases = { loaded: false, alerts: 0, cases });
let me = null;
let audio = null;
let loaded = false;

function beep() {
  if (!audio) return;
  // Two short tones: distinct from an operating-room monitor's steady alarm.
  for (const [start, freq] of [[0, 880], [0.25, 1175]]) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.25, audio.currentTime + start);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + start + 0.2);
    osc.connect(gain).connect(audio.destination);
    osc.start(audio.currentTime + start);
    osc.stop(audio.currentTime + start + 0.22);
  }
}

function announce(caseData) {
  state.alerts += 1;
  beep();
  if ("Notification" in window && Notification.permission === "granted") {
    new Notification(t("Urgent frozen section"), {
      body: `${caseData.site}: ${caseData.specimen_site} · ${caseData.clinical_question}`,
      tag: caseData.id,
    });
  }
}

function visible(caseData) {
  if (document.getElementById("show-closed").checked) return true;
  if (caseData.status === "cancelled") return false;
  if (caseData.status === "acknowledged") {
    return Date.now() - new Date(caseData.acknowledged_at).getTime() < 12 * 3600 * 1000;
  }
  return true;
}

function order(a, b) {
  const urgency = (c) => (c.priority === "urgent" ? 0 : 1);
  const open = (c) => (["reported", "acknowledged", "amended", "cancelled"].includes(c.status) ? 1 : 0);
  return open(a) - open(b) || urgency(a) - urgency(b) || a.requested_at.localeCompare(b.requested_at);
}

async function claim(caseData, button) {
  button.disabled = true;
  try {
    const claimed = await api(`/api/cases/${caseData.id}/claim`, { method: "POST" });
    upsert(claimed);
    location.href = `/cases/${caseData.id}`;
  } catch (error) {
    document.getElementById("message").textContent = t("Could not claim: {reason}", { reason: error.message });
    button.disabled = false;
  }
}

// Second opinions in the pathologist's column: asked, and by whom answered.
function opinionNotes(c) {
  return (c.opinions || []).map((o) => el("div", { class: o.status === "open" ? "opinion-open" : "muted", "data-opinion": o.status },
    o.status === "open" ? WORDS.asked(o) : WORDS.answered(o)));
}

function askedOfMe() {
  const items = [];
  for (const c of cases.values()) {
    for (const o of c.opinions || []) {
      if (o.status === "open" && me && o.recipients.includes(me.username)) items.push([c, o]);
    }
  }
  return items.sort(([, a], [, b]) => a.asked_at.localeCompare(b.asked_at));
}

function renderAsked() {
  const items = askedOfMe();
  document.getElementById("asked").hidden = items.length === 0;
  document.getElementById("asked-list").replaceChildren(...items.map(([c, o]) => el("li", { "data-asked": c.id },
    el("strong", {}, `${c.patient_name} · ${c.site} · ${c.specimen_site}`), " — ", WORDS.askedOfYou(o),
    el("span", { class: "muted" }, ` (${formatTime(o.asked_at)}) `),
    el("a", { class: "button primary", href: `/cases/${c.id}#opinion-${o.id}` }, WORDS.answer))));
}

function pathologistCell(c) {
  if (c.acknowledged_by && (c.status === "acknowledged")) {
    return el("td", {}, datum(c.claimed_by || "–"), el("div", { class: "ok", "data-ack": "" },
      "✔ ", ...tNodes("acknowledged by {name} at {time}", { name: datum(c.acknowledged_by), time: formatTime(c.acknowledged_at, { zone: true }) })));
  }
  if (c.status === "amended") return el("td", {}, datum(c.claimed_by || "–"), el("div", { class: "error" }, t("amended: awaiting re-acknowledgement")));
  return el("td", {}, datum(c.claimed_by || "–"));
}

function actionCell(c) {
  const mine = me && c.claimed_by === me.username;
  if (me && me.role === "pathologist" && c.status === "ready" && !c.claimed_by) {
    const button = el("button", { class: "primary", type: "button", "data-claim": c.id }, t("Claim"));
    button.addEventListener("click", () => claim(c, button));
    return el("td", {}, button);
  }
  const label = mine && c.status === "in_review" ? t("Continue") : t("Open");
  return el("td", {}, el("a", { class: "button", href: `/cases/${c.id}` }, label),
    " ", el("a", { class: "link", href: `/cases/${c.id}/result` }, t("result")));
}

function row(c, fresh) {
  const clock = clocks.get(c.id);
  const tr = el("tr", { "data-case": c.id, "data-status": c.status, class: fresh ? "new" : "" },
    el("td", {}, el("span", { class: `tag ${c.priority}` }, c.priority === "urgent" ? t("URGENT") : t("routine")),
      el("div", { class: "muted" }, choiceWord(c.type))),
    el("td", {}, datum(c.patient_name, {}, "strong"), el("div", { class: "muted" }, ...tNodes("MRN {mrn}", { mrn: datum(c.patient_mrn) }))),
    el("td", {}, datum(c.specimen_site), c.specimen_laterality !== "not_applicable" ? ` (${choiceWord(c.specimen_laterality)})` : "",
      datum(c.clinical_question, { class: "muted" }, "div")),
    el("td", {}, datum(c.site), datum(c.operating_room || "", { class: "muted" }, "div")),
    el("td", {}, el("span", { class: `tag status-${c.status}` }, STATUS_WORDS[c.status])),
    el("td", { class: "clock", "data-clock": "requested" }, formatElapsed(clock.minutes())),
    el("td", { class: "clock", "data-clock": "ready" }, formatElapsed(clock.minutes("minutes_since_ready"))),
    el("td", {}, slideStateText(c.slide_state)),
    pathologistCell(c),
    actionCell(c));
  tr.children[8].append(...opinionNotes(c));
  return tr;
}

function render(freshId = null) {
  const body = document.getElementById("rows");
  const shown = [...cases.values()].filter(visible).sort(order);
  body.replaceChildren(...shown.map((c) => row(c, c.id === freshId)));
  document.getElementById("empty").hidden = shown.length > 0;
  renderAsked();
  tick();
}

function tick() {
  for (const tr of document.querySelectorAll("tr[data-case]")) {
    const clock = clocks.get(tr.dataset.case);
    if (!clock) continue;
    const since = clock.minutes();
    const cell = tr.querySelector('[data-clock="requested"]');
    cell.textContent = formatElapsed(since);
    cell.className = clockClass(since, clock.data.running);
    const ready = clock.minutes("minutes_since_ready");
    const readyCell = tr.querySelector('[data-clock="ready"]');
    readyCell.textContent = formatElapsed(ready);
    readyCell.className = ready === null ? "clock stopped" : clockClass(ready, clock.data.running);
  }
}

function upsert(c) {
  const known = cases.get(c.id);
  if (known && known.version > c.version) return;
  const isNew = !known;
  cases.set(c.id, c);
  if (clocks.has(c.id)) clocks.get(c.id).set(c); else clocks.set(c.id, new Clock(c));
  if (isNew && loaded && c.priority === "urgent" && c.status !== "cancelled") announce(c);
  render(isNew && loaded ? c.id : null);
}

async function boot() {
  me = await startPage();
  document.getElementById("show-closed").addEventListener("change", () => render());
  document.getElementById("alerts").addEventListener("click", async (event) => {
    audio = audio || new AudioContext();
    await audio.resume();
    if ("Notification" in window && Notification.permission === "default") {
      await Notification.requestPermission();
    }
    event.target.textContent = t("Alerts on");
    event.target.disabled = true;
    beep();
  });
  const link = document.getElementById("link");
  // Subscribe first, then load: a change in between arrives as an event, not lost.
  new CaseStream("/api/cases/events", {
    onCase: upsert,
    onStatus: (status) => showLink(link, status),
    onReady: async () => {
      if (loaded) return;
      const list = await api("/api/cases?limit=500");
      for (const c of list.items) {
        const known = cases.get(c.id);
        if (!known || known.version <= c.version) { cases.set(c.id, c); clocks.set(c.id, new Clock(c)); }
      }
      loaded = state.loaded = true;
      render();
    },
  });
  setInterval(tick, 1000);
}

boot().catch((error) => { document.getElementById("message").textContent = error.message; });
