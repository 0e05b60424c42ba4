// One teaching collection: its cases with each trainee's own progress, and for the teacher
// the class's answers, adding cases (de-identified copies) and starting a conference.

import { api, el, formatCount, formatTime, startPage, t, tn } from "/static/shell/shell.js";

const $ = (id) => document.getElementById(id);
const collectionId = location.pathname.split("/").pop();

function verdict(answer) {
  return el("span", { class: answer.agrees ? "agrees" : "differs" },
    answer.agrees ? t("same category as the expert") : t("another category than the expert"));
}

function itemRow(item, teacher) {
  const facts = [item.specimen_site, tn("{count} slide", "{count} slides", item.slides.length, { count: formatCount(item.slides.length) })]
    .filter(Boolean).join(" · ");
  const lines = [el("a", { href: `/teaching/cases/${item.id}`, "data-item": item.id }, item.title),
    el("div", { class: "muted" }, facts)];
  if (item.answer) {
    lines.push(el("div", {}, t("Your answer: {category}", { category: item.answer.category_label }), " · ", verdict(item.answer)));
  } else if (!teacher) {
    lines.push(el("div", { class: "muted" }, t("Not answered yet")));
  }
  if (teacher) {
    lines.push(el("div", {}, t("Expert: {category}", { category: item.category_label || t("no report (a single slide)") }),
      item.diagnosis ? ` · ${item.diagnosis}` : ""),
    el("div", { class: "muted" }, tn("{count} trainee answer", "{count} trainee answers", item.answers, { count: formatCount(item.answers) })));
  }
  return el("li", {}, ...lines);
}

function classTable(items, board) {
  $("class-progress").replaceChildren(...board.progress.map((p) => el("tr", {},
    el("td", {}, p.username), el("td", {}, t("{done} of {total}", { done: p.answered, total: p.of })), el("td", {}, t("{done} of {total}", { done: p.agreed, total: p.answered })))));
  if (!board.progress.length) $("class-progress").append(el("tr", {}, el("td", { colspan: "3" }, t("No answer yet."))));
  $("class-answers").replaceChildren(...items.filter((item) => board.answers[item.id]?.length).map((item) =>
    el("div", {}, el("h3", {}, item.title),
      el("table", { class: "answers" },
        el("thead", {}, el("tr", {}, el("th", {}, t("Trainee")), el("th", {}, t("Category")), el("th", {}, t("Diagnosis")), el("th", {}, t("Answered")))),
        el("tbody", {}, ...board.answers[item.id].map((a) => el("tr", {},
          el("td", {}, a.username), el("td", {}, a.category_label, " · ", verdict(a)), el("td", {}, a.text),
          el("td", {}, formatTime(a.answered_at, { zone: true })))))))));
}

async function loadConferences(teacher) {
  const list = await api(`/api/teaching/collections/${collectionId}/conferences`);
  $("conferences").hidden = !teacher && !list.length;
  $("conference-list").replaceChildren(...list.map((c) => el("li", {},
    el("a", { href: `/teaching/conferences/${c.id}` }, t("Join the conference led by {name}", { name: c.teacher })),
    el("div", { class: "muted" }, `started ${formatTime(c.started_at)} · ${formatCount(c.participants.length)} participant${c.participants.length === 1 ? "" : "s"}`))));
}

async function load(me) {
  const teacher = me.role === "pathologist" || me.role === "admin";
  const collection = await api(`/api/teaching/collections/${collectionId}`);
  document.title = `${collection.name} · ${t("Teaching")} · SlideBridge`;
  $("name").textContent = collection.name;
  $("description").textContent = collection.description || "";
  $("items").replaceChildren(...collection.items.map((item) => itemRow(item, teacher)));
  if (!collection.items.length) $("items").append(el("li", { class: "muted" }, t("No case yet.")));
  const board = await api(`/api/teaching/collections/${collectionId}/answers`);
  if (teacher) {
    $("class").hidden = false;
    classTable(collection.items, board);
  } else {
    const mine = board.progress[0];
    $("progress").textContent = t("Your progress: {answered} of {total} answered, {agreed} in the expert's category.", {
      answered: mine ? mine.answered : 0, total: collection.items.length, agreed: mine ? mine.agreed : 0,
    });
  }
  await loadConferences(teacher);
}

const me = await startPage();
if (me.role === "pathologist") {
  $("add").hidden = false;
  $("start-conference").hidden = false;
  $("add").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries([...new FormData(event.target)].filter(([, v]) => v));
    $("message").textContent = t("Making the de-identified copy…");
    try {
      await api(`/api/teaching/collections/${collectionId}/items`, { json: data });
      $("message").textContent = "";
      event.target.reset();
      await load(me);
    } catch (error) {
      $("message").textContent = error.message;
    }
  });
  $("start-conference").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries([...new FormData(event.target)].filter(([, v]) => v));
    try {
      const conference = await api(`/api/teaching/collections/${collectionId}/conferences`, { json: data });
      location.assign(`/teaching/conferences/${conference.id}`);
    } catch (error) {
      $("message").textContent = error.message;
    }
  });
}
try {
  await load(me);
} catch (error) {
  $("message").textContent = error.message;
}
