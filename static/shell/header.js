// The header of every page: the product name (back to the start page), links to what the
// signed-in user's role does, who is signed in with role and site, the language of the
// pages (the user's own choice, else the browser's), and sign-out (a plain same-origin
// form, POST /logout: the pages' CSP allows form-action 'self').
//
// A page puts `<header id="shell">` first in its body, optionally with its own items
// inside (the viewer's slide name and status); they stay between the links and the user,
// who is pushed to the right unless the page's items hold a `.spacer`.

import { api } from "./api.js";
import { datum, el } from "./dom.js";
import { availableLanguages, currentLanguage, t } from "./i18n.js";

// What each role does. The API decides every action (app/services/cases/service.py, the upload
// service); pages only leave out what would be refused.
const DOES = {
  request: ["technician", "surgeon", "admin"], // the operating room's site requests cases
  upload: ["technician", "pathologist", "admin"], // surgeons read slides, others add them
  attach: ["technician", "surgeon", "pathologist"], // a case's photographs and documents
  turnaround: ["pathologist", "admin"],
  operatingRoom: ["surgeon", "technician"], // the people of the site, on its own screen
  teach: ["pathologist", "admin"], // teaching collections (trainees have them only)
};

/** A role in the user's language. */
export function roleName(role) {
  const names = { admin: t("admin"), pathologist: t("pathologist"), surgeon: t("surgeon"), technician: t("technician"), trainee: t("trainee") };
  return names[role] || role;
}

/** Whether `me`'s role does `what` ("request", "upload", "attach", "turnaround", "operatingRoom", "teach"). */
export function may(me, what) {
  return DOES[what].includes(me.role);
}

/** The links a user's role has, as [label, href] (a label may be nodes); a kiosk screen has its own page only. */
export function linksFor(me) {
  const room = me.site
    ? [roomLabel(me.site), `/or/${encodeURIComponent(me.site)}`]
    : null;
  if (me.kiosk) return room ? [room] : [];
  if (me.role === "trainee") return [[t("Teaching"), "/teaching"]]; // nothing of patients
  const links = [[t("Slides"), "/"], [me.role === "pathologist" ? t("Worklist") : t("Cases"), "/cases"]];
  if (may(me, "request")) links.push([t("New request"), "/cases/new"]);
  if (may(me, "upload")) links.push([t("Upload"), "/upload"]);
  if (may(me, "turnaround")) links.push([t("Turnaround"), "/turnaround"]);
  if (may(me, "teach")) links.push([t("Teaching"), "/teaching"]);
  if (room && may(me, "operatingRoom")) links.push(room);
  return links;
}

function roomLabel(site) {
  return [t("Operating room"), " ", datum(site)];
}

function who(me) {
  const where = me.role === "trainee" ? t("teaching")
    : me.site ? datum(me.site)
    : me.covers.length ? [t("covers"), " ", datum(me.covers.join(", "))] : t("all sites");
  return [datum(me.full_name || me.username), ` · ${roleName(me.role)} · `, where].flat();
}

// The pages' language: the user's own (kept on the hub), else the browser's. Changing it
// reloads the page, which then loads the new catalog.
function languageControl(me) {
  const select = el("select", { id: "language", "aria-label": t("Language") });
  select.append(new Option(t("Browser language"), ""));
  for (const [tag, name] of Object.entries(availableLanguages())) {
    const option = new Option(name, tag);
    option.setAttribute("translate", "no"); // each language by its own name
    option.lang = tag;
    select.append(option);
  }
  select.value = me.language || "";
  select.title = t("Language of the pages (now: {language})", { language: availableLanguages()[currentLanguage()] });
  select.addEventListener("change", async () => {
    select.disabled = true;
    try {
      await api("/api/users/me/language", { method: "PUT", json: { language: select.value || null } });
      location.reload();
    } catch (error) {
      select.disabled = false;
      select.title = error.message;
    }
  });
  return select;
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
  const whoBox = el("span", { id: "who" });
  header.prepend(el("a", { class: "brand", href: "/", translate: "no" }, "SlideBridge"), nav);
  const signOut = el("form", { method: "post", action: "/logout", id: "sign-out" }, el("button", { type: "submit" }, t("Sign out")));
  header.append(whoBox, signOut);
  const me = await api("/api/users/me");
  nav.replaceChildren(...linksFor(me).map(([label, href]) =>
    el("a", { href, "aria-current": href === location.pathname ? "page" : null }, label)));
  whoBox.replaceChildren(...who(me));
  whoBox.title = t("signed in as {username}", { username: me.username });
  signOut.before(languageControl(me));
  return me;
}

