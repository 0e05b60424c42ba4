// The operating room's screen: /or/{site} (the site's frozen sections) or
// /cases/{id}/result (one case). Large type, the identifiers to check against the
// wristband, the live status, and the diagnosis the moment it is signed (pushed, no
// reload). Only a signed report is ever shown as a result. The surgeon acknowledges
// with one action, which reads the result back; an amendment is announced as AMENDED
// and must be acknowledged again. The header says when the server was last heard from.

import { api, datum, el, formatDate, formatTime, startPage, t, tNodes } from "/static/shell/shell.js";
import { CaseStream, categoryWord, choiceWord, showLink, STATUS_WORDS } from "./common.js";

// Every word this screen shows that is not data: one place, for the translation catalog.
const WORDS = {
  print: (version) => t("Print report (PDF, version {version})", { version }),
  printTitle: t("Opens the signed report; print it from the browser's PDF viewer"),
  transferHead: t("⇄ TRANSFER TO THE HUB RECOMMENDED"),
  transferBody: (r) => (r.transfer_note
    ? tNodes("The pathologist recommends transferring this patient to the hub: {note}", { note: datum(r.transfer_note) })
    : [t("The pathologist recommends transferring this patient to the hub.")]),
  transferAck: t("+ TRANSFER TO THE HUB"),
  transferReadBack: t("Transfer to the hub recommended"),
};

const parts = location.pathname.split("/").filter(Boolean);
const siteMode = parts[0] === "or";
const key = decodeURIComponent(parts[1]);
const cases = new Map();
const state = (window.slidebridgeResult = { cases, received: 0 });
let me = null;
let stream = null;

function waitingText(c) {
  if (c.status === "cancelled") return c.cancel_reason ? tNodes("Cancelled: {reason}", { reason: datum(c.cancel_reason) }) : [t("Cancelled")];
  if (c.status === "in_review") return tNodes("Pathologist {name} is reading the slides…", { name: datum(c.claimed_by) });
  if (c.status === "ready") return [t("Slides at the hub, waiting for a pathologist…")];
  if (c.status === "slides_uploading") return [t("Slides uploading…")];
  return [t("Waiting for slides…")];
}

async function acknowledge(c, button) {
  button.disabled = true;
  const r = c.report;
  try {
    // What the surgeon read back, in the words the screen showed them.
    const transfer = r.transfer ? ` · ${WORDS.transferReadBack}` : "";
    const readBack = `${categoryWord(r)}: ${r.diagnosis}${transfer}`.slice(0, 500);
    show(await api(`/api/cases/${c.id}/acknowledge`, { json: { report_version: r.version, read_back: readBack } }));
  } catch (error) {
    document.getElementById("message").textContent = t("Not acknowledged: {reason}", { reason: error.message });
    button.disabled = false;
  }
}

// The signed version on screen, as the PDF that goes into the chart: the browser's PDF
// viewer prints it. The version is in the link, so an amendment never prints unseen.
function printLink(c, r) {
  return el("a", {
    class: "button print", href: `/api/cases/${c.id}/report.pdf?version=${r.version}`,
    target: "_blank", rel: "noopener", "data-print": c.id, title: WORDS.printTitle,
  }, WORDS.print(r.version));
}

function card(c) {
  const r = c.report;
  const amended = r && r.version > 1;
  const needsAck = r && c.acknowledged_version < c.report_version;
  const body = [
    datum(c.patient_name, { class: "patient" }, "div"),
    el("div", { class: "ids" }, ...tNodes("MRN {mrn} · born {date} · {sex}", {
      mrn: datum(c.patient_mrn), date: formatDate(c.patient_dob), sex: choiceWord(c.patient_sex),
    })),
    el("div", { class: "specimen" }, datum(c.specimen_site),
      c.specimen_laterality !== "not_applicable" ? ` (${choiceWord(c.specimen_laterality)})` : "", " ",
      datum(c.specimen_type || ""), " · ", datum(c.operating_room || ""), " · ",
      t("requested {time}", { time: formatTime(c.requested_at) })),
    el("div", { class: "status", "data-status": c.status }, STATUS_WORDS[c.status]),
  ];
  if (!r) {
    body.push(el("div", { class: "waiting" }, ...waitingText(c)));
  } else {
    if (amended) body.push(el("div", { class: "amended", "data-amended": "" }, t("AMENDED (version {version})", { version: r.version })),
      el("div", { class: "comment" }, ...tNodes("Reason: {text}", { text: datum(r.reason) })));
    body.push(
      el("div", { class: `category ${r.category}`, "data-category": r.category }, categoryWord(r).toUpperCase()),
      el("div", { class: "diagnosis", "data-diagnosis": "", translate: "no" }, r.diagnosis),
      // Words in a box of its own, not a colour: the room must not miss it.
      r.transfer ? el("div", { class: "transfer", role: "alert", "data-transfer": "" },
        el("div", { class: "transfer-head" }, WORDS.transferHead), el("div", {}, ...WORDS.transferBody(r))) : null,
      r.margins ? el("div", { class: "margins" }, ...tNodes("Margins: {text}", { text: datum(r.margins) })) : null,
      r.comment ? el("div", { class: "comment" }, ...tNodes("Comment: {text}", { text: datum(r.comment) })) : null,
      el("div", { class: "muted" }, ...tNodes("Signed by {name} at {time}", {
        name: datum(r.signed_by_name || r.signed_by), time: formatTime(r.signed_at, { zone: true }),
      })),
      printLink(c, r));
    if (needsAck && me.role === "surgeon") {
      const category = categoryWord(r).toUpperCase() + (r.transfer ? ` ${WORDS.transferAck}` : "");
      const button = el("button", { class: "ack", type: "button", "data-ack": c.id },
        amended ? t("Read back & acknowledge: {category} (amended)", { category })
          : t("Read back & acknowledge: {category}", { category }));
      button.addEventListener("click", () => acknowledge(c, button));
      body.push(button);
    } else if (needsAck) {
      body.push(el("div", { class: "waiting" }, t("Waiting for the surgeon's acknowledgement")));
    } else {
      body.push(el("div", { class: "acked", "data-acknowledged": "" },
        "✔ ", ...tNodes("Acknowledged by {name} at {time}", { name: datum(c.acknowledged_by), time: formatTime(c.acknowledged_at, { zone: true }) })));
    }
  }
  return el("section", { class: "or-case", "data-case": c.id, "aria-live": "assertive" }, ...body);
}

function relevant(c) {
  if (!siteMode) return true;
  if (c.type !== "frozen_section") return false;
  if (c.status === "cancelled") return false;
  // Acknowledged results stay up for two hours: the team may look again while closing.
  return c.status !== "acknowledged" || Date.now() - new Date(c.acknowledged_at).getTime() < 2 * 3600 * 1000;
}

function render() {
  const shown = [...cases.values()].filter(relevant)
    .sort((a, b) => b.requested_at.localeCompare(a.requested_at));
  document.getElementById("cases").replaceChildren(...shown.map(card));
  document.getElementById("empty").hidden = shown.length > 0;
}

function show(c) {
  const known = cases.get(c.id);
  if (known && known.version > c.version) return;
  cases.set(c.id, c);
  state.received += 1;
  if (!siteMode) document.title = t("{name} · result", { name: c.patient_name });
  render();
}

async function load() {
  if (siteMode) {
    const list = await api(`/api/cases?site=${encodeURIComponent(key)}&type=frozen_section&limit=200`);
    list.items.forEach(show);
  } else {
    show(await api(`/api/cases/${encodeURIComponent(key)}`));
  }
}

// The operating-room screen may stay signed in: a kiosk (no idle timeout, and good for this
// screen only, so nobody walking up can browse with it). Whoever turns it on signs the
// screen in as themselves, so the page asks first.
function kioskControl() {
  const link = document.getElementById("link");
  if (me.kiosk) {
    link.before(el("span", { id: "kiosk", class: "kiosk", title: t("signed in for this screen only") }, t("Kiosk screen")));
    return;
  }
  if (!["surgeon", "technician"].includes(me.role)) return;
  const button = el("button", { type: "button", id: "kiosk", class: "kiosk" }, t("Keep this screen signed in"));
  button.addEventListener("click", async () => {
    const question = t("Keep this screen signed in as {username}, for the operating room of {site} only?", { username: me.username, site: key });
    if (!confirm(question)) return;
    // The hub revokes this session for the kiosk's: the stream on it would end with a
    // "signed out" and send the screen to the login form before the reload. Close it first.
    stream.close();
    try {
      await api("/api/auth/kiosk", { method: "POST" });
      location.reload();
    } catch (error) {
      document.getElementById("message").textContent = t("Not a kiosk: {reason}", { reason: error.message });
      stream.resume();
    }
  });
  link.before(button);
}

async function boot() {
  me = await startPage({ slim: true });
  if (siteMode) kioskControl();
  document.getElementById("title").replaceChildren(...(siteMode ? tNodes("Frozen sections · {site}", { site: datum(key) }) : [t("Frozen-section result")]));
  const link = document.getElementById("link");
  // The stream's own resource answers as the stream does: a wrong or withdrawn link is
  // said once (`onRefused`), not asked for every 15 s for as long as the screen stays on.
  const resource = siteMode ? `/api/sites/${encodeURIComponent(key)}` : `/api/cases/${encodeURIComponent(key)}`;
  let loaded = false;
  const say = (text) => { document.getElementById("message").textContent = text; };
  const notFound = () => say(t("Not found, or not shared with you."));
  const loadFailed = (error) => (error.status === 404 ? notFound() : say(error.message));
  stream = new CaseStream(`${resource}/events`, {
    check: resource,
    onRefused: notFound,
    onCase: show,
    onStatus: (s) => showLink(link, s),
    onReady: async () => {
      if (loaded) return;
      loaded = true;
      try { await load(); } catch (error) { loadFailed(error); }
    },
  });
  // A stream that never says "ready" (no answer at all): tell the room instead of waiting for ever.
  setTimeout(() => { if (!loaded) load().catch(loadFailed); }, 4000);
  setInterval(render, 30000);
}

boot().catch((error) => { document.getElementById("message").textContent = error.message; });
