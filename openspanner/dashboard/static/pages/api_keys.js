// API keys (#/api-keys, admin only): list, create with a scope (the secret is
// shown once, with a copy button), revoke.

import { ApiError, api } from "../api.js";
import { confirmDialog, empty, errorState, field, h, loading, notAvailable, notify, replace, setFieldError, table } from "../dom.js";
import { formatTime, plural } from "../format.js";

const SCOPES = [
  ["read", "read: meters, usage and events"],
  ["ingest", "ingest: record usage"],
  ["admin", "admin: everything, keys included"],
];

// Copy with the clipboard API where the page may use it (https or localhost);
// otherwise select the text so the user can copy it by hand.
async function copy(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    input.focus();
    input.select();
    return false;
  }
}

function secretBox(created) {
  const secret = h("input", { type: "text", readonly: true, value: created.secret, class: "secret", spellcheck: "false", "aria-label": "The new key's secret" });
  const copyButton = h("button", { type: "button", class: "primary" }, "Copy");
  copyButton.addEventListener("click", async () => {
    copyButton.textContent = (await copy(secret)) ? "Copied" : "Selected: press Ctrl+C";
  });
  return h(
    "div",
    { class: "card secret-card", role: "alert" },
    h("h2", {}, `Key ${created.api_key.name || created.api_key.id} created`),
    h("p", {}, h("strong", {}, "Copy the secret now: it is shown only this once and cannot be retrieved again.")),
    h("div", { class: "secret-row" }, secret, copyButton),
  );
}

export async function render(main, { session, setTitle }) {
  setTitle("API keys");
  if (!session.canWrite) {
    replace(main, h("h1", {}, "API keys"), errorState("Managing API keys needs an admin key; this key may only read."));
    return;
  }
  const showRevoked = h("input", { type: "checkbox", id: "show-revoked" });
  const name = h("input", { type: "text", name: "name", autocomplete: "off" });
  const scope = h("select", { name: "scope" }, SCOPES.map(([v, label]) => h("option", { value: v, selected: v === "read" }, label)));
  const created = h("div", {});
  const list = h("div", {}, loading("keys"));
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Create key");

  async function create(event) {
    event.preventDefault();
    setFieldError(name, null);
    setFieldError(scope, null);
    formError.hidden = true;
    submit.disabled = true;
    try {
      const answer = await api("POST", "/v1/api-keys", { body: { name: name.value.trim(), scope: scope.value } });
      replace(created, secretBox(answer));
      name.value = "";
      created.querySelector("button").focus();
      load();
    } catch (error) {
      const control = error instanceof ApiError ? { name, scope }[error.field] : null;
      if (!(control && setFieldError(control, error.fieldMessage))) {
        formError.textContent = error instanceof ApiError && error.isMissingEndpoint
          ? "Creating keys is not available yet on this server."
          : `Could not create the key: ${error.message}`;
        formError.hidden = false;
      }
    } finally {
      submit.disabled = false;
    }
  }

  async function revoke(key) {
    const sure = await confirmDialog({
      title: `Revoke key ${key.name || key.id}?`,
      message: "Every call made with it is refused from then on, within seconds. This cannot be undone.",
      confirmLabel: "Revoke key",
      danger: true,
    });
    if (!sure) return;
    try {
      await api("DELETE", `/v1/api-keys/${encodeURIComponent(key.id)}`);
      notify(`Key ${key.name || key.id} revoked.`);
    } catch (error) {
      notify(`Could not revoke the key: ${error.message}`, "error");
    }
    load();
  }

  async function load() {
    let answer;
    try {
      answer = await api("GET", "/v1/api-keys", { query: { include_revoked: showRevoked.checked } });
    } catch (error) {
      if (error instanceof ApiError && error.isMissingEndpoint) replace(list, notAvailable("Managing API keys over HTTP"));
      else replace(list, errorState(`Could not load the keys: ${error.message}`, load));
      return;
    }
    if (!answer.items.length) {
      replace(list, empty("No keys stored yet. (A bootstrap key set in the environment is not listed.)"));
      return;
    }
    replace(
      list,
      h("p", { class: "muted" }, plural(answer.items.length, "key")),
      table(
        [
          { label: "Name", cell: (k) => k.name || h("span", { class: "muted" }, "—") },
          { label: "Id", cell: (k) => h("code", {}, k.id) },
          { label: "Scope", cell: (k) => h("span", { class: `badge scope-${k.scope}` }, k.scope) },
          { label: "Created", cell: (k) => formatTime(k.created_at) },
          {
            label: "Status",
            cell: (k) => (k.revoked_at ? h("span", { class: "muted" }, `revoked ${formatTime(k.revoked_at)}`) : "active"),
          },
          {
            label: "",
            cell: (k) =>
              k.revoked_at || k.id === session.keyId
                ? (k.id === session.keyId ? h("span", { class: "muted" }, "this key") : null)
                : h("button", { type: "button", class: "danger small", "aria-label": `Revoke key ${k.name || k.id}`, on: { click: () => revoke(k) } }, "Revoke"),
          },
        ],
        answer.items,
        { rowAttrs: (k) => ({ dataset: { keyId: k.id }, class: k.revoked_at ? "revoked" : null }) },
      ),
    );
  }
  showRevoked.addEventListener("change", load);

  replace(
    main,
    h("h1", {}, "API keys"),
    h("p", { class: "lead" }, "Services send usage with ingest keys; people and reports read with read keys."),
    h(
      "form",
      { class: "card inline-form", novalidate: true, on: { submit: create } },
      h("h2", {}, "Create a key"),
      formError,
      field("Name", name, { hint: "What uses it, e.g. billing-svc." }),
      field("Scope", scope),
      h("div", { class: "actions" }, submit),
    ),
    created,
    h("div", { class: "page-head" }, h("h2", {}, "Keys"), h("div", { class: "field-check" }, showRevoked, h("label", { for: "show-revoked" }, "Show revoked keys"))),
    list,
  );
  await load();
}
