// Turnaround per site and period, from GET /api/metrics/turnaround.
import { api, el } from "./common.js";

const number = (value) => (value === null ? "–" : value.toFixed(1));
const share = (value) => (value === null ? "–" : `${Math.round(value * 100)}%`);

async function show() {
  const form = document.getElementById("filters");
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) if (v) params.set(k, v);
  try {
    const data = await api(`/api/metrics/turnaround?${params}`);
    document.getElementById("rows").replaceChildren(...data.rows.map((r) => el("tr", { "data-site": r.site },
      el("td", {}, r.site), el("td", {}, r.period_start || `${data.start} – ${data.end}`),
      el("td", { "data-frozen": "" }, r.frozen_sections), el("td", {}, r.reported), el("td", {}, r.open),
      el("td", {}, number(r.median_request_to_report)), el("td", {}, number(r.p90_request_to_report)),
      el("td", {}, number(r.median_ready_to_report)), el("td", {}, number(r.p90_ready_to_report)),
      el("td", { class: r.within_goal_share !== null && r.within_goal_share < 0.9 ? "error" : "ok" }, share(r.within_goal_share)),
      el("td", {}, share(r.deferral_rate)))));
    document.getElementById("message").textContent = data.rows.length ? "" : "No frozen sections in this range.";
  } catch (error) {
    document.getElementById("message").textContent = error.message;
  }
}

document.getElementById("filters").addEventListener("submit", (event) => { event.preventDefault(); show(); });
show();
