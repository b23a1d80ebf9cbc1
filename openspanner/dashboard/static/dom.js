// Safe DOM helpers shared by every page.
//
// Everything shown by the dashboard is built from elements and text nodes:
// strings always become text (never markup), so a subject such as
// `<img src=x onerror=alert(1)>` is displayed as those characters. There is
// deliberately no helper that takes HTML; do not add one.

// Attributes that would run code or carry inline style are refused, so the
// Content-Security-Policy never has to catch a mistake made here.
const FORBIDDEN_ATTRIBUTE = /^(on|style$|srcdoc$|innerhtml$|outerhtml$)/i;

// h("button", {class: "primary", on: {click: save}}, "Save")
//   attrs: plain attributes (true -> present, false/null/undefined -> absent),
//          `on` (event listeners), `dataset` (data-* attributes).
//   children: strings and numbers (inserted as text), nodes, arrays of them,
//             null/undefined/false (skipped).
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (name === "dataset") {
      for (const [key, data] of Object.entries(value)) element.dataset[key] = String(data);
    } else if (FORBIDDEN_ATTRIBUTE.test(name)) {
      throw new Error(`h(): attribute ${name} is not allowed`);
    } else if (name === "value" && "value" in element) {
      element.value = value ?? "";
    } else if (name === "checked" || name === "selected" || name === "disabled" || name === "hidden") {
      element[name] = Boolean(value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

// Replace everything inside `parent` with `children`.
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let nextId = 0;
// A unique id, for label `for` and aria-describedby links.
export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

// The states every list and chart goes through, in words.
export function loading(what) {
  return h("p", { class: "state state-loading", role: "status" }, `Loading ${what}…`);
}

export function empty(message) {
  return h("p", { class: "state state-empty" }, message);
}

export function errorState(message, retry) {
  return h(
    "div",
    { class: "state state-error", role: "alert" },
    h("p", {}, message),
    retry ? h("button", { type: "button", on: { click: retry } }, "Try again") : null,
  );
}

// An endpoint this server does not answer yet (404 on its route): said plainly,
// so the page is still usable while the server-side work lands.
export function notAvailable(what) {
  return h(
    "div",
    { class: "state state-unavailable", role: "status" },
    h("p", {}, h("strong", {}, `${what} is not available yet on this server.`)),
    h("p", {}, "The server answered that it has no such endpoint; it comes with a newer version of Open Spanner."),
  );
}

// A labelled form control: the label, the control, a hint, and a place for the
// error the API names this field in (`error.field`).
export function field(label, control, { hint, errorFor } = {}) {
  const id = control.id || uid("input");
  control.id = id;
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  if (errorFor) error.dataset.errorFor = errorFor;
  const describedBy = [`${id}-error`];
  let hintNode = null;
  if (hint) {
    hintNode = h("p", { class: "field-hint", id: `${id}-hint` }, hint);
    describedBy.push(`${id}-hint`);
  }
  control.setAttribute("aria-describedby", describedBy.join(" "));
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintNode, error);
}

// Show `message` beside the control of a field() (or clear it with null).
export function setFieldError(control, message) {
  const error = document.getElementById(`${control.id}-error`);
  if (!error) return false;
  error.textContent = message || "";
  error.hidden = !message;
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  return true;
}

// A table from column definitions: {label, cell(row) -> node|string, numeric}.
export function table(columns, rows, { caption, rowAttrs } = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.numeric ? "num" : null }, c.label)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            rowAttrs ? rowAttrs(row) : {},
            columns.map((c) => h("td", { class: c.numeric ? "num" : null }, c.cell(row))),
          ),
        ),
      ),
    ),
  );
}

// A modal question (a <dialog>: focus stays in it, Escape cancels).
// Resolves true when confirmed.
export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "dialog-title" },
      h("h2", { id: "dialog-title" }, title),
      [message].flat().map((line) => h("p", {}, line)),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "secondary", value: "cancel", on: { click: () => dialog.close("cancel") } }, "Cancel"),
        h(
          "button",
          { type: "button", class: danger ? "danger" : "primary", on: { click: () => dialog.close("confirm") } },
          confirmLabel,
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A short message at the top of the page that goes away by itself.
export function notify(message, kind = "info") {
  const region = document.getElementById("notices");
  const notice = h("p", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  region.append(notice);
  setTimeout(() => notice.remove(), 6000);
}

// Start a download of `text` as a file, without a round trip to the server.
export function download(filename, text, type = "text/csv;charset=utf-8") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
