// The upload page: tus-js-client (from npm, served under /static/vendor/tus/) sends each
// file to /api/uploads/ with the session cookie. Its URL storage (localStorage) keeps
// each upload's address, so a reload or a dropped link resumes instead of starting over;
// the hub keeps every byte it acknowledged.

const tus = window.tus;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000];
const CHUNK = 16 * 1024 * 1024;
const state = (window.slidebridgeUpload = { done: [], failed: [] });

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function bytes(n) {
  const units = ["B", "kB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function duration(seconds) {
  if (!Number.isFinite(seconds)) return "…";
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

// The hub answers refusals as JSON {"detail": ...}; show that, not tus-js-client's dump.
function reason(error) {
  const response = error.originalResponse;
  if (response) {
    try {
      const detail = JSON.parse(response.getBody()).detail;
      if (detail) return `${detail} (${response.getStatus()})`;
    } catch { /* not JSON */ }
    return `the hub answered ${response.getStatus()}`;
  }
  return navigator.onLine ? error.message : "no network: waiting to resume";
}

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
  const item = el("li");
  const top = el("div", "top");
  const name = el("span", "name", file.name);
  const numbers = el("span", "numbers", bytes(file.size));
  const bar = el("progress");
  bar.max = file.size || 1;
  bar.value = 0;
  const status = el("div", "state", "Starting…");
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
      view.status.textContent = `Connection lost; retrying (attempt ${attempt + 1})…`;
      // 409/423 mean "ask for the offset again"; other 4xx are final refusals.
      return !status || status === 409 || status === 423 || status >= 500;
    },
    onProgress(sent, total) {
      rate.add(sent);
      const speed = rate.perSecond();
      view.bar.value = sent;
      view.numbers.textContent = `${bytes(sent)} of ${bytes(total)} · ${bytes(speed)}/s`;
      view.status.textContent = sent >= total
        ? "Verifying the whole file on the hub…"
        : `Sending: ${duration((total - sent) / speed)} left`;
    },
    onSuccess() {
      view.item.classList.add("done");
      view.bar.value = view.bar.max;
      view.status.textContent = "Received and verified. ";
      if (slideId) {
        view.item.dataset.slideId = slideId;
        const link = el("a", "", "Open the slide");
        link.href = `/slides/${encodeURIComponent(slideId)}`;
        view.status.append(link);
      }
      state.done.push({ name: file.name, slideId });
    },
    onError(error) {
      view.item.classList.add("failed");
      view.status.textContent = `Not uploaded: ${reason(error)}`;
      state.failed.push({ name: file.name, reason: reason(error) });
    },
  });
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      view.status.textContent = "Resuming where it stopped…";
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
    list.append(el("li", "", `${upload.metadata.filename || "a file"} (${bytes(upload.size || 0)})`));
  }
  document.getElementById("unfinished").hidden = false;
}

async function boot() {
  const response = await fetch("/api/users/me", { credentials: "same-origin" });
  if (response.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    return;
  }
  const me = await response.json();
  document.getElementById("who").textContent = `${me.username} (${me.role})`;
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
