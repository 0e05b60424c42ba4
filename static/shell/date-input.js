// A date field that takes only what cannot be misread, and says the date back spelled
// out beside it. `<input type="date">` is not used: it shows and takes the browser's
// locale order (mm/dd/yyyy in an en-US browser). Taken: ISO "1968-03-02" (any separator,
// year first), or the month by name ("2 Mar 1968", "2 March 1968", "March 2, 1968").
// Refused with a reason: "03/02/1968" (2 March or 3 February?), "1968-02-30", "3/2/68".
// Chinese is taken too: "1968年3月2日" is year first, one reading.

import { el } from "./dom.js";
import { formatDate } from "./format.js";
import { t } from "./i18n.js";

const MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
  "september", "october", "november", "december"];
const WEEKDAYS = () => [t("Sunday"), t("Monday"), t("Tuesday"), t("Wednesday"), t("Thursday"), t("Friday"), t("Saturday")];
// The examples are written in the reader's own way of spelling a date.
const EXAMPLE = () => t("e.g. 1975-11-24 or {date}", { date: formatDate("1975-11-24") });
const HINT = () => t("Year first (1975-11-24) or {date}", { date: formatDate("1975-11-24") });
const pad = (n) => String(n).padStart(2, "0");

function daysIn(year, month) {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function monthNumber(word) {
  if (word.length < 3) return 0;
  return MONTHS.findIndex((name) => name.startsWith(word)) + 1;
}

export function todayIso() {
  const now = new Date();
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** Year, month and day from the text, or a reason it cannot be one date. */
function read(text) {
  const chinese = /^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?$/.exec(text);
  if (chinese) return { year: +chinese[1], month: +chinese[2], day: +chinese[3] };
  const numeric = /^(\d{1,4})\s*[./\-\s]\s*(\d{1,2})\s*[./\-\s]\s*(\d{1,4})$/.exec(text);
  if (numeric) {
    const [a, b, c] = numeric.slice(1).map(Number);
    if (numeric[1].length === 4) return { year: a, month: b, day: c }; // year first: one reading
    if (numeric[3].length !== 4) return { error: t("write the year in full: {example}", { example: EXAMPLE() }) };
    const readings = [[b, a], [a, b]].filter(([m, d]) => m >= 1 && m <= 12 && d >= 1 && d <= daysIn(c, m))
      .map(([m, d]) => `${c}-${pad(m)}-${pad(d)}`);
    const [first, second] = [...new Set(readings)];
    if (second) {
      return { error: t("ambiguous: {first} or {second}? Write {first_iso} or {second_iso}", { first: formatDate(first), second: formatDate(second), first_iso: first, second_iso: second }) };
    }
    if (first) {
      return { error: t("day and month come in a different order in different countries: write {iso} or {date}", { iso: first, date: formatDate(first) }) };
    }
    return { error: t("not a date: write {example}", { example: EXAMPLE() }) };
  }
  const words = text.toLowerCase().replace(/[,./-]/g, " ").split(/\s+/).filter(Boolean);
  const named = words.filter((w) => /^[a-z]+$/.test(w));
  const numbers = words.filter((w) => /^\d+$/.test(w));
  if (words.length === 3 && named.length === 1 && numbers.length === 2) {
    const month = monthNumber(named[0]);
    if (!month) return { error: t("“{word}” is not a month: write {example}", { word: named[0], example: EXAMPLE() }) };
    const year = numbers.find((w) => w.length === 4);
    const day = numbers.find((w) => w.length <= 2);
    if (!year || !day) return { error: t("write the year in full: {example}", { example: EXAMPLE() }) };
    return { year: +year, month, day: +day };
  }
  return { error: t("not a date: write {example}", { example: EXAMPLE() }) };
}

/**
 * `{iso}` ("" for an empty field) or `{error}`, one sentence. `future: false` refuses a
 * date after today (a date of birth).
 */
export function parseDate(text, options = {}) {
  const result = validate(text, options);
  return result.error ? { error: result.error[0].toUpperCase() + result.error.slice(1) } : result;
}

function validate(text, { future = true }) {
  const trimmed = (text || "").trim();
  if (!trimmed) return { iso: "" };
  const date = read(trimmed);
  if (date.error) return date;
  const { year, month, day } = date;
  if (year < 1800) return { error: t("the year {year} is too early: write {example}", { year, example: EXAMPLE() }) };
  if (month < 1 || month > 12) return { error: t("there is no month {month}: write {example}", { month, example: EXAMPLE() }) };
  const last = daysIn(year, month);
  if (day < 1 || day > last) {
    const name = MONTHS[month - 1][0].toUpperCase() + MONTHS[month - 1].slice(1);
    // TRANSLATORS: {name} is the English month's name, {month} its number.
    return { error: t("{name} {year} has no day {day} (it has {last} days)", { name, month, year, day, last }) };
  }
  const iso = `${year}-${pad(month)}-${pad(day)}`;
  if (!future && iso > todayIso()) return { error: t("{date} is in the future", { date: formatDate(iso) }) };
  return { iso };
}

/** "Saturday 2 Mar 1968" (1968年3月2日 星期六): what the field says back beside the entry. */
export function spelledOut(iso) {
  const [year, month, day] = iso.split("-").map(Number);
  const weekday = WEEKDAYS()[new Date(Date.UTC(year, month - 1, day)).getUTCDay()];
  return t("{weekday} {date}", { weekday, date: formatDate(iso) });
}

/**
 * Turn a text `<input>` into a date field: the date said back beside it, a refusal with
 * its reason (the form will not submit), and the ISO date in the form's data under the
 * input's name, whatever way of writing it was typed.
 */
export function dateField(input, options = {}) {
  input.type = "text";
  input.autocomplete = "off";
  input.spellcheck = false;
  input.placeholder = t("YYYY-MM-DD");
  input.setAttribute("aria-describedby", `${input.name}-said`);
  const said = el("output", { id: `${input.name}-said`, class: "date-said", "aria-live": "polite" });
  input.after(said);
  const show = (showError) => {
    const result = parseDate(input.value, options);
    input.setCustomValidity(result.error || "");
    const refused = Boolean(showError && result.error);
    said.textContent = result.iso ? spelledOut(result.iso) : refused ? result.error : HINT();
    said.classList.toggle("error", refused);
    said.classList.toggle("hint", !result.iso && !refused);
  };
  // Quiet while typing ("1968-0" is not wrong yet); the reason shows on leaving the field.
  input.addEventListener("input", () => show(false));
  input.addEventListener("change", () => show(true));
  input.addEventListener("invalid", () => show(true));
  input.form?.addEventListener("formdata", (event) => {
    const { iso } = parseDate(input.value, options);
    if (iso !== undefined) event.formData.set(input.name, iso);
  });
  show(false);
}
