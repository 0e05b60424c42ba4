// The header of every page: the product name (back to the start page), links to what the
// signed-in user's role does, who is signed in with role and site, and sign-out (a plain
// same-origin form, POST /logout: the pages' CSP allows form-action 'self').
//
// A page puts `<header id="shell">` first in its body, optionally with its own items
// inside (the viewer's slide name and status); they stay between the links and the user,
// who is pushed to the right unless the page's items hold a `.spacer`.

import { api } from "./api.js";
import { el } from "./dom.js";

// What each role does. The API decides every action (app/services/cases/service.py, the upload
// service); pages only leave out what would be refused.
const DOES = {
  request: ["technician", "surgeon", "admin"], // the operating room's site requests cases
  upload: ["technician", "pathologist", "admin"], // surgeons read slides, others add them
  turnaround: ["pathologist", "admin"],
  operatingRoom: ["surgeon", "technician"], // the people of the site, on its own screen
  teach: ["pathologist", "admin"], // teaching collections (trainees have them only)
};

/** Whether `me`'s role does `what` ("request", "upload", "turnaround", "operatingRoom", "teach"). */
export function may(me, what) {
  return DOES[what].includes(me.role);
}

/** The links a user's role has, as [label, href]; a kiosk screen has its own page only. */
export function linksFor(me) {
  const room = me.site ? [`Operating room ${me.site}`, `/or/${encodeURIComponent(me.site)}`] : null;
  if (me.kiosk) return room ? [room] : [];
  if (me.role === "trainee") return [["Teaching", "/teaching"]]; // nothing of patients
  const links = [["Slides", "/"], [me.role === "pathologist" ? "Worklist" : "Cases", "/cases"]];
  if (may(me, "request")) links.push(["New request", "/cases/new"]);
  if (may(me, "upload")) links.push(["Upload", "/upload"]);
  if (may(me, "turnaround")) links.push(["Turnaround", "/turnaround"]);
  if (may(me, "teach")) links.push(["Teaching", "/teaching"]);
  if (room && may(me, "operatingRoom")) links.push(room);
  return links;
}

function whoText(me) {
  const where = me.role === "trainee" ? "teaching"
    : me.site || (me.covers.length ? `covers ${me.covers.join(", ")}` : "all sites");
  return `${me.full_name || me.username} · ${me.role} · ${where}`;
}

/**
 * Fill the page's header and return the signed-in user (`GET /api/users/me`). A signed-out
 * visitor is sent to the login form. `slim`: the small variant, for the operating room.
 */
export async function startPage({ slim = false } = {}) {
  let header = document.getElementById("shell");
  if (!header) {
    header = el("header", { id: "shell" });
    document.body.prepend(header);
  }
  header.classList.toggle("slim", slim);
  const nav = el("nav", { id: "nav", "aria-label": "SlideBridge" });
  const who = el("span", { id: "who" });
  header.prepend(el("a", { class: "brand", href: "/" }, "SlideBridge"), nav);
  header.append(who,
    el("form", { method: "post", action: "/logout", id: "sign-out" }, el("button", { type: "submit" }, "Sign out")));
  const me = await api("/api/users/me");
  nav.replaceChildren(...linksFor(me).map(([label, href]) =>
    el("a", { href, "aria-current": href === location.pathname ? "page" : null }, label)));
  who.textContent = whoText(me);
  who.title = `signed in as ${me.username}`;
  return me;
}
