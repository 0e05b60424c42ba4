// A case's attachments on the request and review pages: the list (an image opens in the
// viewer as a slide, a PDF downloads, never shown by the hub) and the pickers that send
// files with the same tus upload as slides (metadata purpose=attachment), so a photograph
// taken on a tablet over a weak link resumes as a slide does. Tablets get a camera button
// (`capture`); elsewhere it opens the file chooser, which is the same.

import { api, datum, el, formatBytes, formatTime, may, t, tNodes, uploadErrorText } from "/static/shell/shell.js";

// Until a report is signed an attachment can be taken back (a photograph of the wrong patient).
const REMOVABLE = new Set(["requested", "slides_uploading", "ready", "in_review"]);

/** What the pages expose to tests: finished and refused attachment uploads. */
export const attachmentState = (window.slidebridgeAttachments = { done: [], failed: [] });

function byline(a) {
  return el("div", { class: "muted" }, ...tNodes("added by {user} at {time}", { user: datum(a.added_by || "—"), time: formatTime(a.added_at) }));
}

function removeButton(a, onError) {
  return el("button", {
    type: "button", class: "remove", "data-remove": a.id,
    onclick: async () => {
      if (!window.confirm(t("Remove {name} from the case?", { name: a.name }))) return;
      try {
        await api(`/api/cases/${a.case_id}/attachments/${a.id}`, { method: "DELETE" });
      } catch (error) {
        onError(error.message);
      }
    },
  }, t("Remove"));
}

// A busy hub (renders wait for a place) may refuse a thumbnail for a while: a placeholder
// stands in and the picture is asked again, until it comes.
function thumbnail(a) {
  const url = `/api/slides/${a.slide_id}/thumbnail?size=160`;
  const img = el("img", { src: url, alt: "" });
  const holder = el("span", { class: "no-thumbnail" }, t("picture in a moment"));
  let tries = 0;
  img.addEventListener("error", () => {
    if (img.isConnected) img.replaceWith(holder);
    tries += 1;
    if (tries <= 20) setTimeout(() => { img.src = `${url}&try=${tries}`; }, 3000);
  });
  img.addEventListener("load", () => { if (holder.isConnected) holder.replaceWith(img); });
  return img;
}

function item(a) {
  if (a.kind === "image") {
    const img = thumbnail(a);
    return el("li", { "data-attachment": a.id, "data-kind": a.kind },
      el("a", { href: a.href, target: "slidebridge-viewer", "data-slide": a.slide_id }, img,
        el("span", {}, ...tNodes("{name}: open in viewer ↗", { name: datum(a.name) }))),
      byline(a));
  }
  return el("li", { "data-attachment": a.id, "data-kind": a.kind },
    el("a", { href: a.href, download: a.name, "data-pdf": a.id },
      el("span", { class: "pdf-mark" }, "PDF"),
      el("span", {}, ...tNodes("{name}: download ({size})", { name: datum(a.name), size: formatBytes(a.size_bytes) }))),
    a.active_content ? el("div", { class: "error", "data-active": a.active_content },
      ...tNodes("Contains scripts or automatic actions ({names}): kept as sent and never run by the hub. Open it only in a PDF reader with JavaScript turned off.",
        { names: datum(a.active_content) })) : null,
    byline(a));
}

/** Fill `list` with the attachments of `caseData` (its snapshot); `me` may remove them
 * until the case is reported. */
export function showAttachments(list, caseData, me) {
  const attachments = caseData.attachments || [];
  const removable = may(me, "attach") && REMOVABLE.has(caseData.status);
  const key = `${attachments.map((a) => a.id).join()}:${removable}`;
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  const problem = el("li", { class: "error", role: "alert" });
  list.replaceChildren(...attachments.map((a) => {
    const row = item(a);
    if (removable) row.append(removeButton(a, (message) => { problem.textContent = message; }));
    return row;
  }), problem);
  if (!attachments.length) list.prepend(el("li", { class: "muted" }, t("No attachments yet.")));
}

/** Send one file as an attachment of `caseData`, its progress as a row of `progressList`. */
export function sendAttachment(file, caseData, progressList) {
  const label = el("span", {});
  // Each sentence is written out in a tNodes call, so `make messages` finds it.
  const say = (nodes) => label.replaceChildren(...nodes);
  const named = (params = {}) => ({ file: datum(file.name), ...params });
  say(tNodes("{file}: starting", named()));
  const bar = el("progress", { max: 100, value: 0 });
  const row = el("li", {}, label, bar);
  progressList.append(row);
  const upload = new window.tus.Upload(file, {
    endpoint: "/api/uploads/",
    retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
    chunkSize: 8 * 1024 * 1024,
    removeFingerprintOnSuccess: true,
    metadata: { filename: file.name, case: caseData.id, site: caseData.site, purpose: "attachment" },
    onShouldRetry(error) {
      const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
      return !status || status === 409 || status === 423 || status >= 500;
    },
    onProgress(sent, total) {
      bar.value = Math.round((sent / total) * 100);
      say(tNodes("{file}: {percent}% ({sent} of {total})", named({ percent: bar.value, sent: formatBytes(sent), total: formatBytes(total) })));
    },
    onSuccess() {
      bar.value = 100;
      say(tNodes("{file}: attached ✔", named()));
      row.dataset.done = "true";
      attachmentState.done.push(file.name);
    },
    onError(error) {
      say(tNodes("{file}: not attached: {reason}", named({ reason: uploadErrorText(error) })));
      row.className = "error";
      attachmentState.failed.push({ name: file.name, reason: uploadErrorText(error) });
    },
  });
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

/** Wire the pickers inside `box` (`input[type=file]`): each chosen file goes to `take`. */
export function onPicked(box, take) {
  for (const input of box.querySelectorAll("input[type=file]")) {
    input.addEventListener("change", () => {
      for (const file of input.files) take(file);
      input.value = "";
    });
  }
}
