// What every SlideBridge page imports: the header, fetch with the session cookie, element
// building, and dates, times and numbers nobody can misread. One job per file below.

export { api, errorText, liveEvents, signIn, uploadErrorText } from "./api.js";
export { el } from "./dom.js";
export { dateField, parseDate, spelledOut, todayIso } from "./date-input.js";
export * from "./format.js";
export { linksFor, may, startPage } from "./header.js";
