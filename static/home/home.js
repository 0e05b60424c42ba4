// The signed-in user's start page: the slides they may see (the API applies the site
// rules), with their preparation status kept current, and links to what their role does.

const ROLE_LINKS = {
  admin: [["Cases", "/cases"], ["Upload", "/upload"], ["Turnaround", "/turnaround"]],
  pathologist: [["Worklist", "/cases"], ["Turnaround", "/turnaround"]],
  technician: [["New request", "/cases/new"], ["Upload", "/upload"], ["Cases", "/cases"]],
  surgeon: [["New request", "/cases/new"], ["Cases", "/cases"]],
};
const REFRESH_MS = 4000;

const $ = (id) => document.getElementById(id);
let slides = [];

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (response.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
    throw new Error("signed out");
  }
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

function statusText(slide) {
  if (slide.status === "tiling") return `preparing ${Math.round(slide.progress * 100)}% · viewable now`;
  if (slide.status === "queued") return "queued · viewable now";
  return slide.status;
}

function card(slide) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = `/slides/${slide.id}`;
  link.dataset.slide = slide.id;
  const thumb = document.createElement("div");
  thumb.className = "thumb";
  if (slide.status !== "failed") thumb.style.backgroundImage = `url("/api/slides/${slide.id}/thumbnail")`;
  const body = document.createElement("div");
  body.className = "card";
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = slide.name;
  const facts = document.createElement("div");
  facts.className = "facts";
  const mpp = slide.mpp_x ? `${slide.mpp_x.toFixed(3)} µm/px` : "no calibration";
  facts.textContent = `${slide.site} · ${slide.vendor} · ${slide.width.toLocaleString()} × ${slide.height.toLocaleString()} px · ${mpp}`;
  const status = document.createElement("span");
  status.className = `status ${slide.status}`;
  status.textContent = statusText(slide);
  body.append(name, facts, status);
  if (slide.error) {
    const error = document.createElement("div");
    error.className = "error-text";
    error.textContent = slide.error;
    body.append(error);
  }
  link.append(thumb, body);
  item.append(link);
  return item;
}

function render() {
  const words = $("filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const shown = slides.filter((s) => {
    const text = `${s.name} ${s.site} ${s.vendor}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
  $("slides").replaceChildren(...shown.map(card));
  $("message").textContent = slides.length === 0
    ? "No slides yet. Slides uploaded at your sites appear here."
    : `${shown.length} of ${slides.length} slides`;
}

async function refresh() {
  try {
    const list = await getJson("/api/slides?limit=500");
    slides = list.items;
    $("message").classList.remove("error");
    render();
  } catch (error) {
    $("message").textContent = `Could not load the slides (${error.message}); retrying.`;
    $("message").classList.add("error");
  }
  // Poll only while something is still being prepared.
  if (slides.some((s) => s.status === "queued" || s.status === "tiling")) setTimeout(refresh, REFRESH_MS);
}

async function main() {
  const me = await getJson("/api/users/me");
  $("who").textContent = `${me.username} (${me.role}${me.site ? `, ${me.site}` : ""})`;
  for (const [label, href] of ROLE_LINKS[me.role] || []) {
    const link = document.createElement("a");
    link.href = href;
    link.textContent = label;
    $("nav").append(link);
  }
  $("filter").addEventListener("input", render);
  await refresh();
}

main();
