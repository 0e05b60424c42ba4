// One teaching collection: its cases with each trainee's own progress, and for the teacher
// the class's answers, adding cases (de-identified copies) and starting a conference.

import { api, el, formatCount, formatTime, startPage } from "/static/shell/shell.js";

const $ = (id) => document.getElementById(id);
const collectionId = location.pathname.split("/").pop();

function verdict(answer) {
  return el("span", { class: answer.agrees ? "agrees" : "differs" },
    answer.agrees ? "same category as the expert" : "another category than the expert");
}

function itemRow(item, teacher) {
  const facts = [item.specimen_site, `${formatCount(item.slides.length)} slide${item.slides.length === 1 ? "" : "s"}`]
    .filter(Boolean).join(" · ");
  const lines = [el("a", { href: `/teaching/cases/${item.id}`, "data-item": item.id }, item.title),
    el("div", { class: "muted" }, facts)];
  if (item.answer) {
    lines.push(el("div", {}, `Your answer: ${item.answer.category_label} · `, verdict(item.answer)));
  } else if (!teacher) {
    lines.push(el("div", { class: "muted" }, "Not answered yet"));
  }
  if (teacher) {
    lines.push(el("div", {}, `Expert: ${item.category_label || "no report (single slide)"}`,
      item.diagnosis ? ` · ${item.diagnosis}` : ""),
    el("div", { class: "muted" }, `${formatCount(item.answers)} trainee answer${item.answers === 1 ? "" : "s"}`));
  }
  return el("li", {}, ...lines);
}

function classTable(items, board) {
  $("class-progress").replaceChildren(...board.progress.map((p) => el("tr", {},
    el("td", {}, p.username), el("td", {}, `${p.answered} of ${p.of}`), el("td", {}, `${p.agreed} of ${p.answered}`))));
  if (!board.progress.length) $("class-progress").append(el("tr", {}, el("td", { colspan: "3" }, "No answer yet.")));
  $("class-answers").replaceChildren(...items.filter((item) => board.answers[item.id]?.length).map((item) =>
    el("div", {}, el("h3", {}, item.title),
      el("table", { class: "answers" },
        el("thead", {}, el("tr", {}, el("th", {}, "Trainee"), el("th", {}, "Category"), el("th", {}, "Diagnosis"), el("th", {}, "Answered"))),
        el("tbody", {}, ...board.answers[item.id].map((a) => el("tr", {},
          el("td", {}, a.username), el("td", {}, a.category_label, " · ", verdict(a)), el("td", {}, a.text),
          el("td", {}, formatTime(a.answered_at, { zone: true })))))))));
}

async function loadConferences(teacher) {
  const list = await api(`/api/teaching/collections/${collectionId}/conferences`);
  $("conferences").hidden = !teacher && !list.length;
  $("conference-list").replaceChildren(...list.map((c) => el("li", {},
    el("a", { href: `/teaching/conferences/${c.id}` }, `Join the conference led by ${c.teacher}`),
    el("div", { class: "muted" }, `started ${formatTime(c.started_at)} · ${formatCount(c.participants.length)} participant${c.participants.length === 1 ? "" : "s"}`))));
}

async function load(me) {
  const teacher = me.role === "pathologist" || me.role === "admin";
  const collection = await api(`/api/teaching/collections/${collectionId}`);
  document.title = `${collection.name} · Teaching · SlideBridge`;
  $("name").textContent = collection.name;
  $("description").textContent = collection.description || "";
  $("items").replaceChildren(...collection.items.map((item) => itemRow(item, teacher)));
  if (!collection.items.length) $("items").append(el("li", { class: "muted" }, "No case yet."));
  const board = await api(`/api/teaching/collections/${collectionId}/answers`);
  if (teacher) {
    $("class").hidden = false;
    classTable(collection.items, board);
  } else {
    const mine = board.progress[0];
    $("progress").textContent = `Your progress: ${mine ? mine.answered : 0} of ${collection.items.length} answered, `
      + `${mine ? mine.agreed : 0} in the expert's category.`;
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
    $("message").textContent = "Making the de-identified copy…";
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
