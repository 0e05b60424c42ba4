// The request form (technician or surgeon at the site, on a tablet), then slides uploaded
// straight into the case with tus (resumable, with progress): the upload carries the case
// id in its metadata, and the server attaches the finished slide to the case. Photographs
// and PDFs picked before the request is sent wait for it, then go as its attachments.

import { api, dateField, datum, el, formatBytes, may, startPage, t, tNodes, uploadErrorText } from "/static/shell/shell.js";
import { onPicked, sendAttachment, showAttachments } from "./attachments.js";
import { CaseStream, STATUS_WORDS, slideStateText } from "./common.js";

const state = (window.slidebridgeRequest = { caseId: null, uploaded: 0, errors: [] });
const waiting = []; // attachments picked before the case exists
let requested = null; // the case, once sent
let me = null;

function formData(form) {
  const data = {};
  for (const [key, value] of new FormData(form).entries()) {
    if (value !== "") data[key] = value;
  }
  return data;
}

function showCase(c) {
  const list = document.getElementById("attach-list");
  list.hidden = false;
  showAttachments(list, c, me);
  document.getElementById("case-status").textContent = STATUS_WORDS[c.status];
  document.getElementById("case-status").dataset.status = c.status;
  document.getElementById("slide-state").textContent = slideStateText(c.slide_state);
}

function uploadFile(file, caseData) {
  const label = el("span", {});
  const say = (msgid, params = {}) => label.replaceChildren(...tNodes(msgid, { file: datum(file.name), ...params }));
  say("{file}: starting");
  const bar = el("progress", { max: 100, value: 0 });
  const item = el("li", {}, label, bar);
  document.getElementById("uploads").append(item);
  const upload = new window.tus.Upload(file, {
    endpoint: "/api/uploads/",
    retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
    chunkSize: 8 * 1024 * 1024,
    removeFingerprintOnSuccess: true,
    metadata: { filename: file.name, case: caseData.id, site: caseData.site },
    onProgress(sent, total) {
      bar.value = Math.round((sent / total) * 100);
      say("{file}: {percent}% ({sent} of {total})", { percent: bar.value, sent: formatBytes(sent), total: formatBytes(total) });
    },
    onSuccess() {
      bar.value = 100;
      say("{file}: received ✔");
      item.dataset.done = "true";
      state.uploaded += 1;
    },
    onError(error) {
      say("{file}: not uploaded: {reason}", { reason: uploadErrorText(error) });
      item.className = "error";
      state.errors.push(String(error));
    },
  });
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

function attachLater(file) {
  if (requested) {
    sendAttachment(file, requested, document.getElementById("attach-uploads"));
    return;
  }
  waiting.push(file);
  document.getElementById("attach-uploads").append(el("li", { "data-waiting": "" },
    ...tNodes("{file}: sent with the request", { file: datum(file.name) })));
}

async function boot() {
  me = await startPage();
  onPicked(document.getElementById("attach-pickers"), attachLater);
  if (!may(me, "attach")) document.getElementById("attachments").hidden = true;
  const sites = me.site ? [me.site] : me.covers;
  const select = document.getElementById("site");
  for (const code of sites) select.append(new Option(code, code));
  if (me.role === "admin") {
    select.replaceWith(el("input", { name: "site", id: "site", required: true, maxlength: 32, placeholder: t("site code, e.g. NORTH") }));
  }
  const form = document.getElementById("request");
  dateField(form.elements.patient_dob, { future: false });
  if (!may(me, "request")) {
    form.before(el("p", { class: "panel notice", role: "note" }, t("Requests come from the operating room's site: its technicians and surgeons send them.")));
    form.querySelector("button[type=submit]").disabled = true;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    document.getElementById("form-error").textContent = "";
    try {
      const caseData = await api("/api/cases", { json: formData(form) });
      state.caseId = caseData.id;
      requested = caseData;
      document.querySelectorAll("#attach-uploads [data-waiting]").forEach((row) => row.remove());
      for (const file of waiting.splice(0)) attachLater(file);
      form.hidden = true;
      document.getElementById("upload").hidden = false;
      document.getElementById("case-title").replaceChildren(
        ...tNodes("{name} (MRN {mrn})", { name: datum(caseData.patient_name), mrn: datum(caseData.patient_mrn) }));
      document.getElementById("upload-page").href = `/upload?case=${encodeURIComponent(caseData.id)}&site=${encodeURIComponent(caseData.site)}`;
      document.getElementById("result-link").href = `/cases/${caseData.id}/result`;
      showCase(caseData);
      history.replaceState(null, "", `/cases/new?case=${caseData.id}`);
      new CaseStream(`/api/cases/${caseData.id}/events`, { onCase: showCase });
      document.getElementById("files").addEventListener("change", (change) => {
        for (const file of change.target.files) uploadFile(file, caseData);
        change.target.value = "";
      });
    } catch (error) {
      document.getElementById("form-error").textContent = error.message;
      button.disabled = false;
    }
  });
}

boot().catch((error) => { document.getElementById("form-error").textContent = error.message; });
