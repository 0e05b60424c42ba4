// The teaching collections every teaching role reads; pathologists make new ones.

import { api, el, errorText, formatTime, startPage } from "/static/shell/shell.js";

const $ = (id) => document.getElementById(id);

function row(collection) {
  return el("li", {},
    el("a", { href: `/teaching/collections/${collection.id}` }, collection.name),
    el("div", { class: "muted" }, `by ${collection.created_by} · ${formatTime(collection.created_at)}`),
    collection.description ? el("p", {}, collection.description) : null);
}

async function load() {
  const collections = await api("/api/teaching/collections");
  $("collections").replaceChildren(...collections.map(row));
  if (!collections.length) $("collections").append(el("li", { class: "muted" }, "No collection yet."));
}

const me = await startPage();
if (me.role === "pathologist") {
  const form = $("create");
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    if (!data.av_link) delete data.av_link;
    try {
      const made = await api("/api/teaching/collections", { json: data });
      location.assign(`/teaching/collections/${made.id}`);
    } catch (error) {
      $("message").textContent = error.message;
    }
  });
}
await load();
