// Building elements: text goes in as text nodes, never as HTML, so a patient name or a
// slide's file name cannot become markup.

/**
 * `el("a", { href: "/", class: "brand", onclick: f }, "text", node, [more])`.
 * Attributes that are null, undefined or false are left out, `true` sets an empty one;
 * `on…` keys add listeners; children may be nested arrays, null and false are skipped.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * Data in a sentence (a patient's name, a site code, a file name): an element marked
 * translate="no", so neither the browser's translator nor the missing-translation test
 * takes it for the page's own words. `datum("NORTH")`, `datum(name, { class: "x" }, "strong")`.
 */
export function datum(value, attrs = {}, tag = "span") {
  return el(tag, { ...attrs, translate: "no" }, value);
}
