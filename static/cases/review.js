// Case review: the slides (opened in the viewer), the clinical question and patient
// identifiers, and the report form signed with the password. Live: a claim by someone
// else, a cancel, or the surgeon's acknowledgement show up at once.

import { api, el, formatDate, formatElapsed, formatTime, startPage } from "/static/shell/shell.js";
import { Clock, clockClass, CaseStream, showLink, STATUS_WORDS, slideStateText } from "./common.js";

const CATEGORIES = [
  ["benign", "benign"], ["malignant", "malignant"], ["atypical", "atypical / suspicious"],
  ["deferred", "deferred to permanent sections"], ["non_diagnostic", "non-diagnostic"],
];
// Every word of the second-opinion part that is not data: one place, for translation.
const WORDS = {
  group: (g) => `group ${g.name} (${g.members.join(", ")})`,
  askedOfMe: (o) => `${o.asked_by} asks your opinion: “${o.note}”`,
  answerLabel: "Your opinion (goes into the case's thread; it is not a signed report)",
  send: "Send opinion",
  opinionLine: (o) => o.status === "open" ? `Asked of ${o.asked_of} at ${formatTime(o.asked_at)}: waiting`
    : `Asked of ${o.asked_of}: answered by ${o.answered_by} at ${formatTime(o.answered_at)}`,
  kinds: { question: "asks for an opinion", opinion: "opinion", note: "note" },
  nobody: "No other pathologist covers this case's site: there is nobody to ask here.",
  cosign: (v) => `Agree with version ${v}? Co-sign it beside the reporting pathologist.`,
  transfer: (r) => `⇄ Transfer of the patient to the hub recommended${r.transfer_note ? `: ${r.transfer_note}` : ""}`,
  cosigned: (c) => `Co-signed by ${c.full_name || c.username} at ${formatTime(c.at, { zone: true })}`,
};
const caseId = decodeURIComponent(location.pathname.split("/")[2]);
const state = (window.slidebridgeReview = { case: null, viewed: false });
let me = null;
let clock = null;
let amending = false;

function facts(c) {
  const rows = [
    ["Patient", c.patient_name], ["MRN", c.patient_mrn], ["Born", formatDate(c.patient_dob)],
    ["Sex", c.patient_sex], ["Specimen", `${c.specimen_site} ${c.specimen_laterality !== "not_applicable" ? `(${c.specimen_laterality})` : ""} ${c.specimen_type}`],
    ["Site", c.site], ["Operating room", c.operating_room || "–"], ["Surgeon", c.surgeon_name || "–"],
    ["History", c.history || "–"], ["Requested", `${formatTime(c.requested_at)} by ${c.requested_by}`],
    ["Claimed", c.claimed_by ? `${c.claimed_by} at ${formatTime(c.claimed_at)}` : "–"],
  ];
  return rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]);
}

// While slides arrive their thumbnails sharpen: asked again at each tenth of the bytes
// (the browser keeps a thumbnail five minutes), and a word instead of a broken image
// before a slide's structure is in.
function thumbnailsKey(c) {
  const state = c.slide_state;
  return `${c.slides.join()}:${state.arriving ? `${Math.floor((state.received || 0) * 10)}-${state.overview_pending}` : "whole"}`;
}

function slides(c) {
  const arriving = c.slide_state.arriving ? `&arriving=${thumbnailsKey(c).split(":")[1]}` : "";
  return c.slides.map((id, index) => {
    const img = el("img", { src: `/api/slides/${id}/thumbnail?size=320${arriving}`, alt: `Slide ${index + 1}` });
    img.addEventListener("error", () => img.replaceWith(el("span", { class: "no-thumbnail" }, "picture in a moment")));
    return el("a", { href: `/slides/${id}`, target: "slidebridge-viewer", "data-slide": id, onclick: () => markViewed() },
      img, el("span", {}, `Slide ${index + 1}: open in viewer ↗`));
  });
}

async function markViewed() {
  const c = state.case;
  if (state.viewed || !c || c.status !== "in_review" || c.claimed_by !== me.username) return;
  state.viewed = true;
  show(await api(`/api/cases/${caseId}/viewed`, { method: "POST" }));
}

function versions(c) {
  return [...c.reports].reverse().map((r) => el("li", {},
    el("strong", {}, r.category_label.toUpperCase()), " — ", r.diagnosis,
    r.margins ? el("div", {}, `Margins: ${r.margins}`) : null,
    r.comment ? el("div", {}, `Comment: ${r.comment}`) : null,
    r.transfer ? el("div", { class: "transfer-note", "data-transfer": "" }, WORDS.transfer(r)) : null,
    r.reason ? el("div", { class: "error" }, `Amended: ${r.reason}`) : null,
    el("div", { class: "muted" }, `v${r.version} signed by ${r.signed_by_name || r.signed_by} at ${formatTime(r.signed_at, { zone: true })}`),
    el("div", {}, el("a", { href: `/api/cases/${caseId}/report.pdf?version=${r.version}`, target: "_blank", "data-pdf": r.version }, `PDF (version ${r.version})`),
      " · ", el("a", { href: `/api/cases/${caseId}/report.fhir.json?version=${r.version}`, target: "_blank" }, "FHIR"))));
}

function show(c) {
  if (state.case && state.case.version > c.version) return;
  state.case = c;
  clock = clock || new Clock(c);
  clock.set(c);
  document.title = `${c.patient_name} · SlideBridge`;
  document.getElementById("title").textContent = `${c.patient_name} · ${c.specimen_site}`;
  const status = document.getElementById("status");
  status.textContent = STATUS_WORDS[c.status];
  status.className = `tag status-${c.status}`;
  status.dataset.status = c.status;
  document.getElementById("question").textContent = c.clinical_question;
  document.getElementById("patient").replaceChildren(...facts(c));
  const box = document.getElementById("slides");
  if (box.dataset.key !== thumbnailsKey(c)) {
    box.replaceChildren(...slides(c));
    box.dataset.key = thumbnailsKey(c);
  }
  document.getElementById("slide-state").textContent = slideStateText(c.slide_state);
  document.getElementById("timeline").replaceChildren(...c.timeline.map((e) =>
    el("li", {}, `${formatTime(e.at)} ${e.kind.replace("_", " ")}${e.username ? ` (${e.username})` : ""}${e.detail ? `: ${e.detail}` : ""}`)));
  const pathologist = me.role === "pathologist";
  document.getElementById("claim-box").hidden = !(pathologist && c.status === "ready");
  const mayReport = pathologist && c.status === "in_review" && c.claimed_by === me.username;
  const signed = c.reports.length > 0;
  document.getElementById("report-form").hidden = !(mayReport || (amending && signed));
  document.getElementById("reports").hidden = !signed;
  document.getElementById("amend").hidden = !pathologist || !signed || amending;
  if (signed) {
    document.getElementById("versions").replaceChildren(...versions(c));
    const ack = document.getElementById("ack");
    if (c.acknowledged_version === c.report_version) {
      ack.className = "ok";
      ack.dataset.acknowledged = "true";
      ack.textContent = `✔ Acknowledged by ${c.acknowledged_by} at ${formatTime(c.acknowledged_at, { zone: true })} (version ${c.acknowledged_version})`;
    } else {
      ack.className = "error";
      ack.dataset.acknowledged = "false";
      ack.textContent = c.status === "amended" ? "Amended: waiting for the surgeon to acknowledge again" : "Waiting for the surgeon to acknowledge";
    }
  }
  if (c.status === "in_review" && c.claimed_by === me.username && c.slides.length) markViewed();
  showDiscussion(c);
  tick();
}

// --- second opinions, the thread, co-signing ----------------------------------------

const DISCUSSED = ["in_review", "reported", "acknowledged", "amended"];

function showDiscussion(c) {
  const pathologist = me.role === "pathologist";
  const open = DISCUSSED.includes(c.status);
  document.getElementById("thread").replaceChildren(...(c.thread || []).map((m) => el("li", { "data-kind": m.kind, "data-message": m.id },
    el("div", { class: "who" }, `${m.author_name || m.author} · ${WORDS.kinds[m.kind]} · ${formatTime(m.at, { zone: true })}`),
    el("div", {}, m.body))));
  document.getElementById("note-form").hidden = !(pathologist && open);
  document.getElementById("opinion-box").hidden = !(pathologist && open);
  if (!pathologist || !open) return;
  const mine = c.claimed_by === me.username;
  document.getElementById("ask-form").hidden = !mine;
  if (mine) loadColleagues();
  document.getElementById("opinions").replaceChildren(...(c.opinions || []).map((o) => el("li", { "data-opinion": o.status }, WORDS.opinionLine(o))));
  const forMe = (c.opinions || []).filter((o) => o.status === "open" && o.recipients.includes(me.username));
  const box = document.getElementById("asked-me");
  const key = forMe.map((o) => o.id).join();
  if (box.dataset.key !== key) {  // rebuilt only when the requests change: typing survives live updates
    box.dataset.key = key;
    box.replaceChildren(...forMe.map(answerForm));
  }
  const signed = c.report && c.report.signed_by !== me.username;
  const cosigned = (c.cosigns || []).filter((x) => x.report_version === c.report_version);
  const done = cosigned.some((x) => x.username === me.username);
  document.getElementById("cosign-form").hidden = !(signed && !done);
  document.getElementById("cosign-text").textContent = c.report ? WORDS.cosign(c.report_version) : "";
  document.getElementById("opinions").append(...cosigned.map((x) => el("li", { "data-cosigned": x.username }, WORDS.cosigned(x))));
}

function answerForm(o) {
  const text = el("textarea", { name: "body", maxlength: "4000", rows: "3", required: true });
  const form = el("form", { class: "panel opinion-for-me stack", id: `opinion-${o.id}`, "data-answer": o.id },
    el("p", {}, el("strong", {}, WORDS.askedOfMe(o))), el("label", {}, WORDS.answerLabel, text),
    el("button", { type: "submit", class: "primary" }, WORDS.send));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await post(`/api/cases/${caseId}/messages`, { body: text.value, opinion: o.id });
  });
  return form;
}

let colleaguesLoaded = false;
async function loadColleagues() {
  if (colleaguesLoaded) return;
  colleaguesLoaded = true;
  const found = await api(`/api/cases/${caseId}/colleagues`);
  const select = document.querySelector("#ask-form [name=to]");
  select.replaceChildren(
    ...found.users.map((u) => el("option", { value: `user:${u.username}` }, u.full_name ? `${u.full_name} (${u.username})` : u.username)),
    ...found.groups.map((g) => el("option", { value: `group:${g.name}` }, WORDS.group(g))));
  if (!select.options.length) document.getElementById("ask-form").replaceChildren(el("p", { class: "muted" }, WORDS.nobody));
}

async function post(url, body) {
  const error = document.getElementById("opinion-error");
  error.textContent = "";
  try {
    show(await api(url, { json: body }));
    return true;
  } catch (e) {
    error.textContent = e.message;
    return false;
  }
}

function buildDiscussion() {
  const ask = document.getElementById("ask-form");
  ask.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [kind, name] = ask.elements.to.value.split(/:(.*)/s);
    const body = { note: ask.elements.note.value, [kind === "group" ? "to_group" : "to_user"]: name };
    if (await post(`/api/cases/${caseId}/opinions`, body)) ask.reset();
  });
  const note = document.getElementById("note-form");
  note.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await post(`/api/cases/${caseId}/messages`, { body: note.elements.body.value })) note.reset();
  });
  const cosign = document.getElementById("cosign-form");
  cosign.addEventListener("submit", async (event) => {
    event.preventDefault();
    await post(`/api/cases/${caseId}/cosign`, { report_version: state.case.report_version, password: cosign.elements.password.value });
    cosign.reset();
  });
}

function tick() {
  if (!clock) return;
  const minutes = clock.minutes();
  const node = document.getElementById("clock");
  node.textContent = `${formatElapsed(minutes)} since request`;
  node.className = clockClass(minutes, clock.data.running);
}

function buildForm() {
  const box = document.getElementById("categories");
  for (const [value, label] of CATEGORIES) {
    box.append(el("label", {}, el("input", { type: "radio", name: "category", value, required: true }), ` ${label}`));
  }
  const form = document.getElementById("report-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    if (!amending) delete data.reason;
    data.transfer = data.transfer === "true";
    if (!data.transfer) delete data.transfer_note;
    for (const key of ["margins", "comment", "transfer_note"]) if (!data[key]) delete data[key];
    document.getElementById("sign").disabled = true;
    document.getElementById("form-error").textContent = "";
    try {
      const c = await api(`/api/cases/${caseId}/${amending ? "amend" : "report"}`, { json: data });
      amending = false;
      form.reset();
      show(c);
    } catch (error) {
      document.getElementById("form-error").textContent = error.message;
    } finally {
      form.querySelector("[name=password]").value = "";
      document.getElementById("sign").disabled = false;
    }
  });
  document.getElementById("amend").addEventListener("click", () => {
    amending = true;
    document.getElementById("form-title").textContent = "Amend the signed report";
    document.getElementById("sign").textContent = "Sign amendment";
    document.getElementById("reason-label").hidden = false;
    document.querySelector("[name=reason]").required = true;
    show(state.case);
  });
  document.getElementById("claim").addEventListener("click", async () => {
    try {
      show(await api(`/api/cases/${caseId}/claim`, { method: "POST" }));
    } catch (error) {
      document.getElementById("message").textContent = `Could not claim: ${error.message}`;
    }
  });
}

async function boot() {
  me = await startPage();
  buildForm();
  buildDiscussion();
  try {
    show(await api(`/api/cases/${encodeURIComponent(caseId)}`));
  } catch (error) {
    document.getElementById("message").textContent = error.status === 404
      ? "This case does not exist, or is not shared with you." : error.message;
    return;
  }
  const link = document.getElementById("link");
  new CaseStream(`/api/cases/${caseId}/events`, {
    onCase: show,
    onStatus: (s) => showLink(link, s),
    // Anything that changed between the first load and the stream's start: load again.
    onReady: async () => show(await api(`/api/cases/${encodeURIComponent(caseId)}`)),
  });
  setInterval(tick, 1000);
}

boot().catch((error) => { document.getElementById("message").textContent = error.message; });
