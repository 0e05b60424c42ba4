// What every SlideBridge page imports: the user's language (first: the catalog is loaded
// before anything else runs), the header, fetch with the session cookie, element
// building, and dates, times and numbers nobody can misread. One job per file below.

export { availableLanguages, currentLanguage, t, tn, tNodes, translatePage } from "./i18n.js";
export { api, errorText, liveEvents, signIn, uploadErrorText } from "./api.js";
export { datum, el } from "./dom.js";
export { dateField, parseDate, spelledOut, todayIso } from "./date-input.js";
export * from "./format.js";
export { linksFor, may, roleName, startPage } from "./header.js";
