// Create a meter (#/meters/new) or edit one (#/meters/<name>/edit).
//
// The API is the one validator: the form sends what was typed (novalidate, no
// rules copied here) and shows each refusal beside the field the API names in
// `error.field`, e.g. `dimensions[1].name` is the name box of the second row.

import { ApiError, api, meterPath } from "../api.js";
import { errorState, field, h, loading, notify, replace, setFieldError, uid } from "../dom.js";
import { aggregationLabel } from "../format.js";

const AGGREGATIONS = [
  ["sum", "sum: add the quantities"],
  ["count", "count: number of events"],
  ["avg", "avg: mean quantity"],
  ["min", "min: smallest quantity"],
  ["max", "max: largest quantity"],
  ["first", "first: quantity of the earliest event"],
  ["last", "last: quantity of the latest event"],
  ["rate", "rate: sum per second"],
  ["unique_count", "unique_count: distinct values of one dimension"],
];
const TYPES = ["string", "number", "boolean"];

// Why the API refuses some changes (409), in words, shown with its message.
const REFUSED_CHANGE =
  "A meter's stored events and the clients sending them depend on its definition, so once it has events " +
  "its aggregation is fixed, a dimension may not be removed, change type or become required, and a new " +
  "dimension must be optional.";

function select(options, value) {
  return h(
    "select",
    {},
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

export async function render(main, { params, session, navigate, setTitle }) {
  const editing = params.length > 0;
  const name = editing ? params[0] : null;
  setTitle(editing ? `Edit ${name}` : "Create meter");
  if (!session.canWrite) {
    replace(
      main,
      h("h1", {}, editing ? `Edit ${name}` : "Create meter"),
      errorState("Changing meters needs an admin key; this key may only read."),
    );
    return;
  }
  let meter = null;
  if (editing) {
    replace(main, h("h1", {}, `Edit ${name}`), loading("the meter"));
    try {
      meter = await api("GET", meterPath(name));
    } catch (error) {
      replace(main, h("h1", {}, `Edit ${name}`), errorState(`Could not load meter ${name}: ${error.message}`));
      return;
    }
  }

  // Controls by the API's field names, for placing its errors.
  const controls = {};
  const formError = h("div", { class: "form-error", role: "alert", hidden: true });

  const nameInput = h("input", { type: "text", name: "name", autocomplete: "off", spellcheck: "false" });
  const description = h("input", { type: "text", name: "description", value: meter?.description ?? "" });
  const unit = h("input", { type: "text", name: "unit", value: meter?.unit ?? "", placeholder: "request, token, byte…" });
  const aggregation = select(AGGREGATIONS, meter?.aggregation ?? "sum");
  aggregation.name = "aggregation";
  // Only unique_count names a dimension; the box shows for it alone.
  const uniqueDimension = h("input", {
    type: "text",
    name: "unique_dimension",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "user",
  });
  const uniqueField = field("Counted dimension", uniqueDimension, {
    hint: "The dimension whose distinct values are counted (one declared below, e.g. user).",
  });
  const showUnique = () => { uniqueField.hidden = aggregation.value !== "unique_count"; };
  aggregation.addEventListener("change", showUnique);
  showUnique();
  const retention = h("input", {
    type: "number",
    name: "event_retention_days",
    min: "1",
    max: "3650",
    inputmode: "numeric",
    value: String(meter?.event_retention_days ?? 90),
  });
  Object.assign(controls, { description, unit, event_retention_days: retention });
  if (!editing) Object.assign(controls, { name: nameInput, aggregation, unique_dimension: uniqueDimension });

  const rows = h("div", { class: "dimension-rows" });
  const dimensionsError = h("p", { class: "field-error", id: uid("dims-error"), hidden: true });
  const addButton = h("button", { type: "button", class: "secondary", on: { click: () => addRow() } }, "Add dimension");

  function addRow(dimension = null) {
    const nameBox = h("input", {
      type: "text",
      autocomplete: "off",
      spellcheck: "false",
      value: dimension?.name ?? "",
      dataset: { dim: "name" },
    });
    const typeBox = select(TYPES.map((t) => [t, t]), dimension?.type ?? "string");
    typeBox.dataset.dim = "type";
    const requiredBox = h("input", {
      type: "checkbox",
      checked: dimension ? dimension.required : false,
      dataset: { dim: "required" },
    });
    const requiredId = uid("required");
    requiredBox.id = requiredId;
    const row = h(
      "fieldset",
      { class: "dimension-row" },
      h("legend", {}, "Dimension"),
      field("Name", nameBox),
      field("Type", typeBox),
      h(
        "div",
        { class: "field field-check" },
        requiredBox,
        h("label", { for: requiredId }, "Required on every event"),
      ),
      h(
        "button",
        { type: "button", class: "secondary small", on: { click: () => { row.remove(); renumber(); } } },
        "Remove",
      ),
    );
    // The fields a stored dimension has beyond these three are sent back as they are.
    row.original = dimension || {};
    rows.append(row);
    renumber();
    if (!dimension) nameBox.focus();
  }

  function renumber() {
    [...rows.children].forEach((row, index) => {
      row.querySelector("legend").textContent = `Dimension ${index + 1}`;
      row.querySelector("[data-dim=name]").setAttribute("aria-label", `Name of dimension ${index + 1}`);
    });
  }

  function dimensionsOf() {
    return [...rows.children].map((row) => ({
      ...row.original,
      name: row.querySelector("[data-dim=name]").value.trim(),
      type: row.querySelector("[data-dim=type]").value,
      required: row.querySelector("[data-dim=required]").checked,
    }));
  }

  for (const dimension of meter?.dimensions ?? []) addRow(dimension);

  function clearErrors() {
    formError.hidden = true;
    formError.replaceChildren();
    dimensionsError.hidden = true;
    for (const control of main.querySelectorAll("[aria-invalid]")) setFieldError(control, null);
  }

  // The control the API's field name points at, if the form has it.
  function controlOf(fieldName) {
    if (controls[fieldName]) return controls[fieldName];
    const match = /^dimensions\[(\d+)\]\.(name|type|required)$/.exec(fieldName || "");
    if (match) {
      const row = rows.children[Number(match[1])];
      return row ? row.querySelector(`[data-dim=${match[2]}]`) : null;
    }
    return null;
  }

  function showError(error) {
    const control = error instanceof ApiError ? controlOf(error.field) : null;
    const refused = error instanceof ApiError && error.status === 409;
    if (control && !refused && setFieldError(control, error.fieldMessage)) {
      control.focus();
      return;
    }
    if (error instanceof ApiError && error.field === "dimensions" && !refused) {
      dimensionsError.textContent = error.fieldMessage;
      dimensionsError.hidden = false;
      addButton.focus();
      return;
    }
    if (refused && editing) {
      replace(formError, h("p", {}, h("strong", {}, "The change was refused: "), error.message), h("p", {}, REFUSED_CHANGE));
      if (control) setFieldError(control, error.fieldMessage);
    } else if (refused) {
      replace(formError, h("p", {}, h("strong", {}, "Not created: "), error.message));
      if (!control) setFieldError(nameInput, error.fieldMessage);
    } else {
      replace(formError, h("p", {}, error instanceof ApiError && error.field ? `${error.field}: ${error.fieldMessage}` : error.message));
    }
    formError.hidden = false;
    formError.focus();
  }

  const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Create meter");
  formError.setAttribute("tabindex", "-1");

  async function onSubmit(event) {
    event.preventDefault();
    clearErrors();
    const days = retention.value.trim();
    const body = {
      description: description.value,
      unit: unit.value.trim(),
      dimensions: dimensionsOf(),
    };
    // A number the browser could not read is sent as typed, for the API to name.
    if (days) body.event_retention_days = Number.isNaN(Number(days)) ? days : Number(days);
    submit.disabled = true;
    try {
      if (editing) {
        await api("PUT", meterPath(meter.name), { body });
        notify(`Meter ${meter.name} saved.`);
        navigate("#/meters");
      } else {
        const counted = aggregation.value === "unique_count" ? { unique_dimension: uniqueDimension.value.trim() } : {};
        const created = await api("POST", "/v1/meters", {
          body: { name: nameInput.value.trim(), aggregation: aggregation.value, ...counted, ...body },
        });
        notify(`Meter ${created.name} created.`);
        navigate(`#/meters/${encodeURIComponent(created.name)}/usage`);
      }
    } catch (error) {
      showError(error);
    } finally {
      submit.disabled = false;
    }
  }

  const form = h(
    "form",
    { class: "card meter-form", novalidate: true, on: { submit: onSubmit } },
    formError,
    editing
      ? h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Name"),
          h("dd", {}, meter.name),
          h("dt", {}, "Aggregation"),
          h("dd", {}, aggregationLabel(meter), h("span", { class: "muted" }, " (fixed once the meter has events)")),
        )
      : [
          field("Name", nameInput, { hint: "Lowercase letters, digits and _, starting with a letter. Events name it." }),
          field("Aggregation", aggregation, { hint: "How quantities add up in a window." }),
          uniqueField,
        ],
    field("Description", description, { hint: "Shown in the dashboard." }),
    field("Unit", unit, { hint: "What one unit of quantity is." }),
    field("Event retention (days)", retention, { hint: "How long raw events are kept: 1 to 3650 days." }),
    h(
      "section",
      { class: "dimensions", "aria-labelledby": "dims-heading" },
      h("h2", { id: "dims-heading" }, "Dimensions"),
      h("p", { class: "field-hint" }, "Metadata keys events carry, for grouping and filtering usage."),
      rows,
      dimensionsError,
      addButton,
    ),
    h(
      "div",
      { class: "actions" },
      submit,
      h("a", { class: "button secondary", href: "#/meters" }, "Cancel"),
    ),
  );
  replace(main, h("h1", {}, editing ? `Edit meter ${meter.name}` : "Create a meter"), form);
}
