// The upload page: tus-js-client (from npm, served under /static/vendor/tus/) sends each
// file to /api/uploads/ with the session cookie. Its URL storage (localStorage) keeps
// each upload's address, so a reload or a dropped link resumes instead of starting over;
// the hub keeps every byte it acknowledged.

import { datum, el, formatBytes, formatDuration, may, startPage, t, tNodes, uploadErrorText } from "/static/shell/shell.js";

const tus = window.tus;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000];
const CHUNK = 16 * 1024 * 1024;
const state = (window.slidebridgeUpload = { done: [], failed: [] });

// Speed over the last ~10 s, so a link that stalls shows it quickly.
class Rate {
  constructor() { this.samples = []; }
  add(sent) {
    const now = performance.now();
    this.samples.push([now, sent]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 10000) this.samples.shift();
  }
  perSecond() {
    if (this.samples.length < 2) return 0;
    const [t0, b0] = this.samples[0];
    const [t1, b1] = this.samples[this.samples.length - 1];
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }
}

function row(file) {
  const item = el("li", {});
  const top = el("div", { class: "top" });
  const name = el("span", { class: "name", translate: "no" }, file.name);
  const numbers = el("span", { class: "numbers" }, formatBytes(file.size));
  const bar = el("progress", {});
  bar.max = file.size || 1;
  bar.value = 0;
  const status = el("div", { class: "state" }, t("Starting…"));
  top.append(name, numbers);
  item.append(top, bar, status);
  document.getElementById("uploads").append(item);
  return { item, numbers, bar, status };
}

function options() {
  const site = document.getElementById("site").value;
  const caseId = document.getElementById("case").value.trim();
  return { site, caseId };
}

function send(file) {
  const view = row(file);
  const rate = new Rate();
  const { site, caseId } = options();
  const metadata = { filename: file.name };
  if (site) metadata.site = site;
  if (caseId) metadata.case = caseId;
  let slideId = null;
  const upload = new tus.Upload(file, {
    endpoint: "/api/uploads/",
    chunkSize: CHUNK,
    retryDelays: RETRY_DELAYS,
    metadata,
    removeFingerprintOnSuccess: true,
    onAfterResponse(_req, res) {
      const id = res.getHeader("Slide-Id");
      if (id) slideId = id;
    },
    onShouldRetry(error, attempt) {
      const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
      view.status.textContent = t("Connection lost; retrying (attempt {attempt})…", { attempt: attempt + 1 });
      // 409/423 mean "ask for the offset again"; other 4xx are final refusals.
      return !status || status === 409 || status === 423 || status >= 500;
    },
    onProgress(sent, total) {
      rate.add(sent);
      const speed = rate.perSecond();
      view.bar.value = sent;
      view.numbers.textContent = t("{sent} of {total} · {speed}/s", { sent: formatBytes(sent), total: formatBytes(total), speed: formatBytes(speed) });
      view.status.textContent = sent >= total
        ? t("Verifying the whole file on the hub…")
        : t("Sending: {time} left", { time: formatDuration((total - sent) / speed) });
    },
    onSuccess() {
      view.item.classList.add("done");
      view.bar.value = view.bar.max;
      view.status.textContent = t("Received and verified.") + " ";
      if (slideId) {
        view.item.dataset.slideId = slideId;
        const link = el("a", {}, t("Open the slide"));
        link.href = `/slides/${encodeURIComponent(slideId)}`;
        view.status.append(link);
      }
      state.done.push({ name: file.name, slideId });
    },
    onError(error) {
      view.item.classList.add("failed");
      const reason = uploadErrorText(error);
      view.status.textContent = t("Not uploaded: {reason}", { reason });
      state.failed.push({ name: file.name, reason });
    },
  });
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      view.status.textContent = t("Resuming where it stopped…");
    }
    upload.start();
  });
}

function take(files) {
  for (const file of files) send(file);
  document.getElementById("files").value = "";
}

async function showUnfinished() {
  const previous = await tus.defaultOptions.urlStorage.findAllUploads();
  if (!previous.length) return;
  const list = document.getElementById("unfinished-list");
  for (const upload of previous) {
    const name = upload.metadata.filename ? datum(upload.metadata.filename) : t("a file");
    list.append(el("li", {}, ...tNodes("{file} ({size})", { file: name, size: formatBytes(upload.size || 0) })));
  }
  document.getElementById("unfinished").hidden = false;
}

async function boot() {
  const me = await startPage();
  if (!may(me, "upload")) {
    document.getElementById("message").textContent = t("Surgeons read slides; technicians and pathologists add them.");
    document.getElementById("message").hidden = false;
    document.getElementById("options").hidden = true;
    document.getElementById("drop").hidden = true;
  }
  const params = new URLSearchParams(location.search);
  const select = document.getElementById("site");
  const sites = me.site ? [me.site] : me.covers;
  for (const code of sites) select.append(new Option(code, code));
  const wanted = params.get("site");
  if (wanted && !sites.includes(wanted)) select.append(new Option(wanted, wanted));
  if (wanted) select.value = wanted;
  if (params.get("case")) document.getElementById("case").value = params.get("case");

  const drop = document.getElementById("drop");
  const input = document.getElementById("files");
  input.addEventListener("change", () => take(input.files));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    take(event.dataTransfer.files);
  });
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") input.click();
  });
  await showUnfinished();
  document.body.dataset.ready = "true";
}

boot();
