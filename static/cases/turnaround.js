// Turnaround per site and period, from GET /api/metrics/turnaround.
import { api, dateField, datum, el, formatDate, formatMinutes, formatShare, startPage, t } from "/static/shell/shell.js";

const PERIOD_WORDS = { day: t("day"), week: t("week"), month: t("month"), all: t("whole range") };

function row(r, data) {
  const period = r.period_start ? formatDate(r.period_start) : `${formatDate(data.start)} – ${formatDate(data.end)}`;
  const behind = r.within_goal_share !== null && r.within_goal_share < 0.9;
  return el("tr", { "data-site": r.site },
    el("td", {}, datum(r.site)), el("td", {}, period),
    el("td", { "data-frozen": "" }, r.frozen_sections), el("td", {}, r.reported), el("td", {}, r.open),
    el("td", {}, formatMinutes(r.median_request_to_report)), el("td", {}, formatMinutes(r.p90_request_to_report)),
    el("td", {}, formatMinutes(r.median_ready_to_report)), el("td", {}, formatMinutes(r.p90_ready_to_report)),
    el("td", { class: behind ? "error" : "ok" }, formatShare(r.within_goal_share)),
    el("td", {}, formatShare(r.deferral_rate)));
}

async function show() {
  const form = document.getElementById("filters");
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) if (v) params.set(k, v);
  try {
    const data = await api(`/api/metrics/turnaround?${params}`);
    document.getElementById("rows").replaceChildren(...data.rows.map((r) => row(r, data)));
    document.getElementById("range").textContent = t("{start} to {end}, by {period}", {
      start: formatDate(data.start), end: formatDate(data.end), period: PERIOD_WORDS[data.period] || data.period,
    });
    document.getElementById("message").textContent = data.rows.length ? "" : t("No frozen sections in this range.");
  } catch (error) {
    document.getElementById("message").textContent = error.message;
  }
}

async function boot() {
  await startPage();
  const form = document.getElementById("filters");
  dateField(form.elements.start);
  dateField(form.elements.end);
  form.addEventListener("submit", (event) => { event.preventDefault(); show(); });
  await show();
}

boot().catch((error) => { document.getElementById("message").textContent = error.message; });
