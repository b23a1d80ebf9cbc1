// Webhook destinations (#/destinations): list; for admin keys, create (the
// signing secret shown once, in both forms), rotate the secret (shown once
// again), send a test event, delete (refused with 409 while a rule uses it).

import { ApiError, api } from "../api.js";
import { confirmDialog, empty, field, h, loading, notify, replace, setFieldError, table, uid } from "../dom.js";
import { formatTime, plural } from "../format.js";
import { loadFailed, secretRow, tabs } from "../alerting.js";

const PATH = "/v1/alerts/destinations";

function destinationPath(id, rest = "") {
  return `${PATH}/${encodeURIComponent(id)}${rest}`;
}

// The answer of create and rotate, the only ones that carry the secret.
function secretCard(destination, what) {
  const signing = destination.webhook_signing;
  return h(
    "div",
    { class: "card secret-card", role: "alert" },
    h("h2", {}, `${what}: ${destination.name}`),
    h("p", {}, h("strong", {}, "Copy the secret now: it is shown only this once and cannot be retrieved again.")),
    secretRow(`Signing secret (${signing.signature_header}: v1=hex HMAC-SHA256 of timestamp.body)`, signing.secret),
    secretRow("The same key for Standard Webhooks libraries (webhook-signature)", signing.standard_webhooks_secret),
    h(
      "p",
      { class: "field-hint" },
      "Both sign every delivery over the same body; verify either. Every attempt from now on uses this secret.",
    ),
  );
}

export async function render(main, { session, setTitle }) {
  setTitle("Destinations");
  const shown = h("div", { class: "secret-slot" });
  const refusal = h("div", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
  const list = h("div", {}, loading("destinations"));

  function showRefusal(message) {
    replace(refusal, h("p", {}, message));
    refusal.hidden = !message;
    if (message) refusal.focus();
  }

  async function load() {
    let items;
    try {
      items = (await api("GET", PATH, { query: { limit: 1000 } })).items;
    } catch (error) {
      replace(list, loadFailed(error, "Webhook destinations", load));
      return;
    }
    if (!items.length) {
      replace(list, empty(session.canWrite ? "No destinations yet. Create one to receive alert events." : "No destinations yet."));
      return;
    }
    replace(
      list,
      h("p", { class: "muted" }, plural(items.length, "destination")),
      table(
        [
          { label: "Name", cell: (d) => d.name },
          { label: "URL", cell: (d) => h("code", { class: "url" }, d.webhook_url) },
          { label: "Enabled", cell: (d) => (d.enabled ? "yes" : h("span", { class: "muted" }, "no")) },
          { label: "Signing", cell: (d) => `${d.webhook_signing.algorithm}, ${d.webhook_signing.signature_header}` },
          // Events a destination receives without a rule (entitlement changes), on servers that have them.
          { label: "Also receives", cell: (d) => (d.event_types?.length ? d.event_types.join(", ") : h("span", { class: "muted" }, "—")) },
          { label: "Created", cell: (d) => formatTime(d.created_at) },
          { label: "Deliveries", cell: (d) => h("a", { href: `#/deliveries?destination_id=${encodeURIComponent(d.id)}` }, "Deliveries") },
          { label: "Actions", cell: (d) => actions(d) },
        ],
        items,
        { rowAttrs: (d) => ({ dataset: { destination: d.id } }) },
      ),
    );
  }

  function actions(destination) {
    if (!session.canWrite) return null;
    const label = (verb) => `${verb} ${destination.name}`;
    return h(
      "div",
      { class: "row-actions" },
      h("button", { type: "button", class: "secondary small", "aria-label": label("Send a test event to"), on: { click: () => test(destination) } }, "Send test"),
      h("button", { type: "button", class: "secondary small", "aria-label": label("Rotate the secret of"), on: { click: () => rotate(destination) } }, "Rotate secret"),
      h("button", { type: "button", class: "danger small", "aria-label": label("Delete destination"), on: { click: () => remove(destination) } }, "Delete"),
    );
  }

  async function test(destination) {
    try {
      const job = await api("POST", destinationPath(destination.id, "/test"));
      notify(`Test event queued for ${destination.name}: delivery ${job.id}.`);
    } catch (error) {
      notify(`Could not send a test event: ${error.message}`, "error");
    }
  }

  async function rotate(destination) {
    const sure = await confirmDialog({
      title: `Rotate the secret of ${destination.name}?`,
      message: "A new secret signs every attempt from now on, retries of earlier events included; receivers must be given it.",
      confirmLabel: "Rotate secret",
    });
    if (!sure) return;
    showRefusal(null);
    try {
      replace(shown, secretCard(await api("POST", destinationPath(destination.id, "/webhook-secret/rotate")), "New secret"));
      shown.querySelector("button").focus();
    } catch (error) {
      notify(`Could not rotate the secret: ${error.message}`, "error");
    }
    load();
  }

  async function remove(destination) {
    const sure = await confirmDialog({
      title: `Delete destination ${destination.name}?`,
      message: "Deliveries still due to it fail from then on. A destination an alert rule uses cannot be deleted.",
      confirmLabel: "Delete destination",
      danger: true,
    });
    if (!sure) return;
    showRefusal(null);
    try {
      await api("DELETE", destinationPath(destination.id));
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        showRefusal(`${destination.name} was not deleted: ${error.message.replace(/^conflict: (id: )?/, "")}.`);
      } else {
        notify(`Could not delete ${destination.name}: ${error.message}`, "error");
      }
      return;
    }
    notify(`Destination ${destination.name} deleted.`);
    load();
  }

  const form = session.canWrite ? createForm() : null;

  function createForm() {
    const name = h("input", { type: "text", name: "name", autocomplete: "off" });
    const url = h("input", { type: "text", name: "webhook_url", autocomplete: "off", spellcheck: "false", placeholder: "https://example.com/hooks/open-spanner", class: "wide" });
    const enabled = h("input", { type: "checkbox", name: "enabled", checked: true, id: uid("enabled") });
    const formError = h("p", { class: "form-error", role: "alert", hidden: true });
    const submit = h("button", { type: "submit", class: "primary" }, "Create destination");
    const controls = { name, webhook_url: url, enabled };

    async function create(event) {
      event.preventDefault();
      for (const control of Object.values(controls)) setFieldError(control, null);
      formError.hidden = true;
      showRefusal(null);
      submit.disabled = true;
      try {
        const created = await api("POST", PATH, { body: { name: name.value.trim(), webhook_url: url.value.trim(), enabled: enabled.checked } });
        replace(shown, secretCard(created, "Destination created"));
        name.value = "";
        url.value = "";
        shown.querySelector("button").focus();
        load();
      } catch (error) {
        const control = error instanceof ApiError ? controls[error.field] : null;
        if (!(control && setFieldError(control, error.fieldMessage))) {
          formError.textContent = `Could not create the destination: ${error.message}`;
          formError.hidden = false;
        }
      } finally {
        submit.disabled = false;
      }
    }

    return h(
      "form",
      { class: "card inline-form", novalidate: true, on: { submit: create } },
      h("h2", {}, "Create a webhook destination"),
      formError,
      field("Name", name, { hint: "For people, e.g. billing alerts." }),
      field("Webhook URL", url, { hint: "http or https; private and loopback addresses only where the server allows them." }),
      h("div", { class: "field-check" }, enabled, h("label", { for: enabled.id }, "Enabled")),
      h("div", { class: "actions" }, submit),
    );
  }

  replace(
    main,
    tabs("destinations"),
    h("h1", {}, "Destinations"),
    h(
      "p",
      { class: "lead" },
      "Webhook URLs that receive alert events. Every delivery is signed with the destination's secret, " +
        "retried with backoff, and logged per attempt.",
    ),
    form,
    shown,
    h("h2", {}, "Destinations"),
    refusal,
    list,
  );
  await load();
}
