// Meters: the list, and delete (with a second, stronger confirmation when the
// meter has events). Create and edit are pages/meter_form.js.

import { ApiError, allPages, api, meterPath } from "../api.js";
import { confirmDialog, empty, errorState, h, loading, notify, replace, table } from "../dom.js";
import { aggregationLabel, plural } from "../format.js";

export function dimensionList(dimensions) {
  if (!dimensions.length) return h("span", { class: "muted" }, "none");
  return h(
    "ul",
    { class: "chips" },
    dimensions.map((d) =>
      h(
        "li",
        { class: "chip" },
        h("span", { class: "chip-name" }, d.name),
        " ",
        h("span", { class: "muted" }, d.type),
        d.required ? h("span", { class: "chip-flag" }, "required") : null,
      ),
    ),
  );
}

export async function render(main, { session, setTitle }) {
  setTitle("Meters");
  const body = h("div", {}, loading("meters"));
  replace(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Meters"),
      session.canWrite ? h("a", { class: "button primary", href: "#/meters/new" }, "Create meter") : null,
    ),
    h("p", { class: "lead" }, "What usage means and how it adds up: each event names one meter."),
    body,
  );

  async function load() {
    replace(body, loading("meters"));
    let items;
    try {
      items = await allPages("/v1/meters", { limit: 1000 });
    } catch (error) {
      replace(body, errorState(`Could not load the meters: ${error.message}`, load));
      return;
    }
    if (!items.length) {
      replace(
        body,
        empty(
          session.canWrite
            ? "No meters yet. Create one to start recording usage."
            : "No meters yet. An admin key can create them.",
        ),
      );
      return;
    }
    replace(
      body,
      h("p", { class: "muted" }, plural(items.length, "meter")),
      table(
        [
          { label: "Name", cell: (m) => h("a", { href: `#/meters/${encodeURIComponent(m.name)}/usage` }, m.name) },
          { label: "Description", cell: (m) => m.description || h("span", { class: "muted" }, "—") },
          { label: "Unit", cell: (m) => m.unit || h("span", { class: "muted" }, "—") },
          { label: "Aggregation", cell: (m) => aggregationLabel(m) },
          { label: "Retention", cell: (m) => plural(m.event_retention_days, "day") },
          { label: "Dimensions", cell: (m) => dimensionList(m.dimensions) },
          { label: "Actions", cell: (m) => actions(m) },
        ],
        items,
        { rowAttrs: (m) => ({ dataset: { meter: m.name } }) },
      ),
    );
  }

  function actions(meter) {
    const name = encodeURIComponent(meter.name);
    return h(
      "div",
      { class: "row-actions" },
      h("a", { href: `#/meters/${name}/usage` }, "Usage"),
      h("a", { href: `#/meters/${name}/events` }, "Events"),
      session.canWrite ? h("a", { href: `#/meters/${name}/edit` }, "Edit") : null,
      session.canWrite
        ? h(
            "button",
            {
              type: "button",
              class: "danger small",
              "aria-label": `Delete meter ${meter.name}`,
              on: { click: () => remove(meter) },
            },
            "Delete",
          )
        : null,
    );
  }

  async function remove(meter) {
    const sure = await confirmDialog({
      title: `Delete meter ${meter.name}?`,
      message: "Events can no longer be recorded on it. A meter that has stored events is only deleted if you confirm again.",
      confirmLabel: "Delete meter",
      danger: true,
    });
    if (!sure) return;
    try {
      await api("DELETE", meterPath(meter.name));
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 409) {
        notify(`Could not delete ${meter.name}: ${error.message}`, "error");
        return;
      }
      const force = await confirmDialog({
        title: `${meter.name} has stored events`,
        message: [
          error.message,
          "Delete the meter and all of its events? Its usage can then no longer be read or billed. This cannot be undone.",
        ],
        confirmLabel: "Delete meter and events",
        danger: true,
      });
      if (!force) return;
      try {
        await api("DELETE", meterPath(meter.name), { query: { force: true } });
      } catch (again) {
        notify(`Could not delete ${meter.name}: ${again.message}`, "error");
        return;
      }
    }
    notify(`Meter ${meter.name} deleted.`);
    load();
  }

  await load();
}
