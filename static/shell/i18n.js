// The user's language on every page: the hub's gettext catalog for it (app/locale, one
// catalog for the server and the pages), loaded once before any page script runs (this
// module awaits it at the top, and every page imports the shell), then:
//   t("Signed by {name}", { name })          a sentence, placeholders filled
//   tn("{count} point", "{count} points", n)  a sentence with a number (plural forms)
//   tNodes("Signed by {name}", { name: node }) the same as nodes, for data in elements
//   translatePage(root)                        the page's own HTML text, on load
// The msgid is the English sentence: a missing translation shows English, never a key.
// `make messages` extracts every t/tn/tNodes call and the pages' HTML text
// (app/core/extract.py takes exactly what translatePage translates); a test fails on a
// msgid without a Chinese translation.

const ATTRIBUTES = ["placeholder", "title", "aria-label", "alt"];
const SKIPPED = new Set(["SCRIPT", "STYLE", "TEMPLATE"]);

let language = "en";
let languages = { en: "English" };
let messages = {};

async function load() {
  try {
    // The hub chooses: the user's own setting, else the browser's Accept-Language.
    const response = await fetch("/api/i18n", { credentials: "same-origin" });
    if (response.ok) ({ language, languages, messages } = await response.json());
  } catch {
    // No catalog (no connection): the pages speak English, their source language.
  }
  document.documentElement.lang = language;
  document.documentElement.dataset.language = language;
}

await load();

/** The page's language, a BCP 47 tag: "en" or "zh-Hans". */
export function currentLanguage() { return language; }

/** The languages the hub speaks: tag -> its name in itself. */
export function availableLanguages() { return { ...languages }; }

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** `msgid` in the user's language, `{name}` placeholders filled from `params`. */
export function t(msgid, params = {}) {
  const entry = messages[msgid];
  return fill(typeof entry === "string" ? entry : msgid, params);
}

// Which plural form a number takes (gettext's Plural-Forms of our languages).
const PLURAL = { en: (n) => (n === 1 ? 0 : 1), "zh-Hans": () => 0 };

/** A sentence with a count: `count` is also a placeholder. */
export function tn(singular, plural, count, params = {}) {
  const forms = Array.isArray(messages[singular]) ? messages[singular] : [singular, plural];
  const form = (PLURAL[language] || PLURAL.en)(count);
  return fill(forms[Math.min(form, forms.length - 1)], { count, ...params });
}

/**
 * The sentence as nodes: parameters that are Nodes (a patient's name in an element
 * marked translate="no") go in as they are, the rest as text.
 */
export function tNodes(msgid, params = {}) {
  const entry = messages[msgid];
  const text = typeof entry === "string" ? entry : msgid;
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(/\{(\w+)\}/g)) {
    if (!(match[1] in params)) continue;
    if (match.index > last) nodes.push(text.slice(last, match.index));
    const value = params[match[1]];
    nodes.push(value instanceof Node ? value : String(value));
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

const fold = (text) => text.replace(/\s+/g, " ").trim();
const translatable = (text) => /\p{L}/u.test(text);

function translated(text) {
  const key = fold(text);
  if (!translatable(key)) return null;
  const entry = messages[key];
  return typeof entry === "string" ? entry : null;
}

/**
 * Translate a page's own HTML (what app/core/extract.py extracts, the same rules): text
 * nodes and the attributes a person reads, outside <script>/<style> and outside
 * elements marked translate="no".
 */
export function translatePage(root = document.documentElement) {
  if (language === "en") return;
  const visit = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = translated(node.data);
      if (text !== null) {
        // Keep the spaces around the text: they separate it from its neighbours.
        const [, before, , after] = /^(\s*)([\s\S]*?)(\s*)$/.exec(node.data);
        node.data = `${before}${text}${after}`;
      }
      return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE || SKIPPED.has(node.tagName)) return;
    if (node.getAttribute("translate") === "no") return;
    for (const name of ATTRIBUTES) {
      const value = node.getAttribute(name);
      const text = value && translated(value);
      if (text) node.setAttribute(name, text);
    }
    for (const child of node.childNodes) visit(child);
  };
  visit(root);
}

translatePage();
