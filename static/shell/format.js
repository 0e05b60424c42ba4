// Dates, times and numbers as nobody can misread them, whatever the browser's locale.
// Nothing here calls toLocale*String: en-US writes 2 March 1968 as "3/2/1968" (the 3rd of
// February to most of the world) and 46,000 as a number that de-DE writes "46.000".
// The words come from the user's catalog (i18n.js), the order of a date too: Chinese
// spells it 1968年3月2日, year first, which no reader takes for another day either.
//
// One style per kind of field, on every page (English / Chinese):
//   calendar date (a date of birth, a period)   2 Mar 1968 / 1968年3月2日
//   moment today / on another day               14:05 / 1 Mar 2025 14:05   (24-hour clock)
//   moment that is a record (signed, ...)      14:05 UTC+1                (with its zone)
//   elapsed time                                12 min 05 s / 12 分 05 秒
//   counts and sizes                            46 000 × 32 914 px, 0.499 µm/px, 3.2 MB
//   shares                                      93 %, arriving 37 %

import { t } from "./i18n.js";

// TRANSLATORS: month abbreviations, used only where the date's pattern names the month.
const MONTHS = () => [t("Jan"), t("Feb"), t("Mar"), t("Apr"), t("May"), t("Jun"), t("Jul"), t("Aug"),
  t("Sep"), t("Oct"), t("Nov"), t("Dec")];
const NONE = "–";
const pad = (n) => String(n).padStart(2, "0");

/** A calendar date ("1968-03-02", no time, no zone) as "2 Mar 1968". */
export function formatDate(iso) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
  if (!match) return NONE;
  const month = Number(match[2]);
  // TRANSLATORS: a calendar date; {mon} is the month's abbreviation, {month} its number.
  return t("{day} {mon} {year}", { day: Number(match[3]), mon: MONTHS()[month - 1], month, year: match[1] });
}

/** The browser's offset from UTC at `at`, as "UTC", "UTC+1", "UTC+5:30", "UTC-3". */
export function zoneName(at = new Date()) {
  const offset = -at.getTimezoneOffset();
  if (offset === 0) return "UTC";
  const size = Math.abs(offset);
  return `UTC${offset > 0 ? "+" : "-"}${Math.floor(size / 60)}${size % 60 ? `:${pad(size % 60)}` : ""}`;
}

function localDay(at) {
  return formatDate(`${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`);
}

/**
 * A moment (an ISO timestamp or a Date) on the 24-hour clock in the browser's zone:
 * "14:05" today, "1 Mar 2025 14:05" on any other day. `zone` adds "UTC+1" (for records
 * read in other places: signatures, acknowledgements); `seconds` adds ":07".
 */
export function formatTime(value, { zone = false, seconds = false } = {}) {
  if (!value) return NONE;
  const at = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(at.getTime())) return NONE;
  let text = `${pad(at.getHours())}:${pad(at.getMinutes())}${seconds ? `:${pad(at.getSeconds())}` : ""}`;
  if (localDay(at) !== localDay(new Date())) text = `${localDay(at)} ${text}`;
  return zone ? `${text} ${zoneName(at)}` : text;
}

/** Elapsed minutes as "12 min 05 s" (never "12:05", which reads as a time of day). */
export function formatElapsed(minutes) {
  if (minutes === null || minutes === undefined) return NONE;
  const seconds = Math.max(0, Math.floor(minutes * 60));
  if (seconds >= 3600) return t("{hours} h {minutes} min", { hours: Math.floor(seconds / 3600), minutes: pad(Math.floor(seconds / 60) % 60) });
  return t("{minutes} min {seconds} s", { minutes: Math.floor(seconds / 60), seconds: pad(seconds % 60) });
}

/** A duration in seconds, rounded the way a countdown is read: "40 s", "3 min 20 s", "1 h 5 min". */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return "…";
  if (seconds < 60) return t("{seconds} s", { seconds: Math.ceil(seconds) });
  if (seconds < 3600) return t("{minutes} min {seconds} s", { minutes: Math.floor(seconds / 60), seconds: Math.round(seconds % 60) });
  return t("{hours} h {minutes} min", { hours: Math.floor(seconds / 3600), minutes: Math.round((seconds % 3600) / 60) });
}

/** Minutes with one decimal: "12.5 min". */
export function formatMinutes(minutes) {
  return minutes === null || minutes === undefined ? NONE : t("{minutes} min", { minutes: minutes.toFixed(1) });
}

/** A whole number grouped by thin spaces (the SI way): "46 000", never "46,000" or "46.000". */
export function formatCount(n) {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
}

export function formatPixels(width, height) {
  return `${formatCount(width)} × ${formatCount(height)} px`;
}

/** A pixel size: "0.499 µm/px"; null when the scanner recorded none. */
export function formatMpp(mpp, digits = 3) {
  return mpp > 0 ? `${mpp.toFixed(digits)} µm/px` : null;
}

/** Bytes in decimal units, as disks and links are sold: "3.2 MB". */
export function formatBytes(n) {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** A share 0..1 as "93 %" (the SI way, a space that never breaks before the sign). */
export function formatShare(share) {
  return share === null || share === undefined ? NONE : `${Math.round(share * 100)}\u00a0%`;
}

/**
 * A slide (or a case's slides) still crossing the link: "arriving 37 %". Rounded down, so
 * it never says 100 % before the last byte is in and verified.
 */
export function formatArriving(received) {
  const percent = Math.min(99, Math.floor((received || 0) * 100 + 1e-9));
  return t("arriving {share}", { share: formatShare(percent / 100) });
}

/** A length in µm as a pathologist writes it: µm below 1 mm, mm above. */
export function formatLength(um) {
  if (um >= 1000) return `${(um / 1000).toFixed(um >= 10000 ? 1 : 2)} mm`;
  if (um >= 100) return `${um.toFixed(0)} µm`;
  return `${um.toFixed(1)} µm`;
}

export function formatArea(um2) {
  if (um2 >= 1e6) return `${(um2 / 1e6).toFixed(3)} mm²`;
  return `${um2.toFixed(um2 >= 100 ? 0 : 1)} µm²`;
}
