// Case review: the slides (opened in the viewer), the clinical question and patient
// identifiers, and the report form signed with the password. Live: a claim by someone
// else, a cancel, or the surgeon's acknowledgement show up at once.

import { api, datum, el, formatDate, formatElapsed, formatTime, may, startPage, t, tn, tNodes } from "/static/shell/shell.js";
import { onPicked, sendAttachment, showAttachments } from "./attachments.js";
import {
  CATEGORY_WORDS, categoryWord, choiceWord, Clock, clockClass, CaseStream, EVENT_WORDS, showLink, STATUS_WORDS,
  slideStateText,
} from "./common.js";

const CATEGORIES = ["benign", "malignant", "atypical", "deferred", "non_diagnostic"];
// Every word of the second-opinion part that is not data: one place.
const WORDS = {
  group: (g) => t("group {name} ({members})", { name: g.name, members: g.members.join(", ") }),
  askedOfMe: (o) => t("{name} asks your opinion: “{note}”", { name: o.asked_by, note: o.note }),
  answerLabel: t("Your opinion (goes into the case's thread; it is not a signed report)"),
  send: t("Send opinion"),
  opinionLine: (o) => (o.status === "open"
    ? t("Asked of {name} at {time}: waiting", { name: o.asked_of, time: formatTime(o.asked_at) })
    : t("Asked of {name}: answered by {answerer} at {time}", {
      name: o.asked_of, answerer: o.answered_by, time: formatTime(o.answered_at),
    })),
  kinds: { question: t("asks for an opinion"), opinion: t("opinion"), note: t("note") },
  nobody: t("No other pathologist covers this case's site: there is nobody to ask here."),
  cosign: (v) => t("Agree with version {version}? Co-sign it beside the reporting pathologist.", { version: v }),
  transfer: (r) => (r.transfer_note
    ? t("⇄ Transfer of the patient to the hub recommended: {note}", { note: r.transfer_note })
    : t("⇄ Transfer of the patient to the hub recommended")),
  cosigned: (c) => t("Co-signed by {name} at {time}", { name: c.full_name || c.username, time: formatTime(c.at, { zone: true }) }),
};
const caseId = decodeURIComponent(location.pathname.split("/")[2]);
const state = (window.slidebridgeReview = { case: null, viewed: false });
let me = null;
let clock = null;
let amending = false;

function facts(c) {
  const laterality = c.specimen_laterality !== "not_applicable" ? ` (${choiceWord(c.specimen_laterality)}) ` : " ";
  const rows = [
    [t("Patient"), datum(c.patient_name)], [t("MRN"), datum(c.patient_mrn)], [t("Born"), formatDate(c.patient_dob)],
    [t("Sex"), choiceWord(c.patient_sex)], [t("Specimen"), [datum(c.specimen_site), laterality, datum(c.specimen_type || "")]],
    [t("Site"), datum(c.site)], [t("Operating room"), datum(c.operating_room || "–")], [t("Surgeon"), datum(c.surgeon_name || "–")],
    [t("History"), datum(c.history || "–")],
    [t("Requested"), tNodes("{time} by {name}", { time: formatTime(c.requested_at), name: datum(c.requested_by) })],
    [t("Claimed"), c.claimed_by ? tNodes("{name} at {time}", { name: datum(c.claimed_by), time: formatTime(c.claimed_at) }) : "–"],
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
    const img = el("img", { src: `/api/slides/${id}/thumbnail?size=320${arriving}`, alt: t("Slide {number}", { number: index + 1 }) });
    img.addEventListener("error", () => img.replaceWith(el("span", { class: "no-thumbnail" }, t("picture in a moment"))));
    return el("a", { href: `/slides/${id}`, target: "slidebridge-viewer", "data-slide": id, onclick: () => markViewed() },
      img, el("span", {}, t("Slide {number}: open in viewer ↗", { number: index + 1 })));
  });
}

// An event's detail is the hub's record (app/services/cases/service.py): a category's
// code, ids, counts, or people's words (a reason, a read-back). Worded here; words of
// people stay as they were written.
function eventDetail(e) {
  const { detail } = e;
  if (e.kind === "report") return [CATEGORY_WORDS[detail] || datum(detail)];
  if (e.kind === "amend") {
    const [category, ...reason] = detail.split(": ");
    if (CATEGORY_WORDS[category]) return [CATEGORY_WORDS[category], ": ", datum(reason.join(": "))];
  }
  const count = /^(\d+) slide\(s\)$/.exec(detail);
  if (count) return [tn("{count} slide", "{count} slides", Number(count[1]))];
  const slide = /^slide (\S+)$/.exec(detail);
  if (slide) return tNodes("slide {id}", { id: datum(slide[1]) });
  const upload = /^upload (\S+) slide (\S+)$/.exec(detail);
  if (upload) return tNodes("upload {upload}, slide {slide}", { upload: datum(upload[1]), slide: datum(upload[2]) });
  return [datum(detail)];
}

async function markViewed() {
  const c = state.case;
  if (state.viewed || !c || c.status !== "in_review" || c.claimed_by !== me.username) return;
  state.viewed = true;
  show(await api(`/api/cases/${caseId}/viewed`, { method: "POST" }));
}

function versions(c) {
  return [...c.reports].reverse().map((r) => el("li", {},
    el("strong", { "data-category": r.category }, categoryWord(r).toUpperCase()), " — ", datum(r.diagnosis),
    r.margins ? el("div", {}, ...tNodes("Margins: {text}", { text: datum(r.margins) })) : null,
    r.comment ? el("div", {}, ...tNodes("Comment: {text}", { text: datum(r.comment) })) : null,
    r.transfer ? el("div", { class: "transfer-note", "data-transfer": "" }, WORDS.transfer(r)) : null,
    r.reason ? el("div", { class: "error" }, ...tNodes("Amended: {text}", { text: datum(r.reason) })) : null,
    el("div", { class: "muted" }, ...tNodes("v{version} signed by {name} at {time}", {
      version: r.version, name: datum(r.signed_by_name || r.signed_by), time: formatTime(r.signed_at, { zone: true }),
    })),
    el("div", {}, el("a", { href: `/api/cases/${caseId}/report.pdf?version=${r.version}`, target: "_blank", "data-pdf": r.version },
      t("PDF (version {version})", { version: r.version })),
    " · ", el("a", { href: `/api/cases/${caseId}/report.fhir.json?version=${r.version}`, target: "_blank" }, "FHIR"))));
}

function show(c) {
  if (state.case && state.case.version > c.version) return;
  state.case = c;
  clock = clock || new Clock(c);
  clock.set(c);
  document.title = `${c.patient_name} · SlideBridge`;
  document.getElementById("title").replaceChildren(datum(c.patient_name), " · ", datum(c.specimen_site));
  const status = document.getElementById("status");
  status.textContent = STATUS_WORDS[c.status];
  status.className = `tag status-${c.status}`;
  status.dataset.status = c.status;
  document.getElementById("question").replaceChildren(datum(c.clinical_question));
  document.getElementById("patient").replaceChildren(...facts(c));
  const box = document.getElementById("slides");
  if (box.dataset.key !== thumbnailsKey(c)) {
    box.replaceChildren(...slides(c));
    box.dataset.key = thumbnailsKey(c);
  }
  document.getElementById("slide-state").textContent = slideStateText(c.slide_state);
  showAttachments(document.getElementById("attachments"), c, me);
  document.getElementById("timeline").replaceChildren(...c.timeline.map((e) =>
    el("li", {}, `${formatTime(e.at)} ${EVENT_WORDS[e.kind] || e.kind}`,
      e.username ? [" (", datum(e.username), ")"] : null, e.detail ? [": ", ...eventDetail(e)] : null)));
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
      ack.replaceChildren("✔ ", ...tNodes("Acknowledged by {name} at {time} (version {version})", {
        name: datum(c.acknowledged_by), time: formatTime(c.acknowledged_at, { zone: true }), version: c.acknowledged_version,
      }));
    } else {
      ack.className = "error";
      ack.dataset.acknowledged = "false";
      ack.textContent = c.status === "amended" ? t("Amended: waiting for the surgeon to acknowledge again") : t("Waiting for the surgeon to acknowledge");
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
  node.textContent = t("{elapsed} since request", { elapsed: formatElapsed(minutes) });
  node.className = clockClass(minutes, clock.data.running);
}

function buildForm() {
  const box = document.getElementById("categories");
  for (const value of CATEGORIES) {
    box.append(el("label", {}, el("input", { type: "radio", name: "category", value, required: true }), ` ${CATEGORY_WORDS[value]}`));
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
    document.getElementById("form-title").textContent = t("Amend the signed report");
    document.getElementById("sign").textContent = t("Sign amendment");
    document.getElementById("reason-label").hidden = false;
    document.querySelector("[name=reason]").required = true;
    show(state.case);
  });
  document.getElementById("claim").addEventListener("click", async () => {
    try {
      show(await api(`/api/cases/${caseId}/claim`, { method: "POST" }));
    } catch (error) {
      document.getElementById("message").textContent = t("Could not claim: {reason}", { reason: error.message });
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
      ? t("This case does not exist, or is not shared with you.") : error.message;
    return;
  }
  const pickers = document.getElementById("attach-pickers");
  pickers.hidden = !may(me, "attach") || state.case.status === "cancelled";
  onPicked(pickers, (file) => sendAttachment(file, state.case, document.getElementById("attach-uploads")));
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
