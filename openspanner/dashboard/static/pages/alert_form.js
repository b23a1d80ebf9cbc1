// Create an alert rule (#/alerts/new) or edit one (#/alerts/<id>/edit).
//
// As with meters, the API is the one validator: the form sends what was typed
// and shows each refusal beside the field the API names in `error.field`
// (`window_seconds`, `metadata.region`, `destination_id`...).

import { ApiError, allPages, api } from "../api.js";
import { errorState, field, h, loading, notify, replace, setFieldError, uid } from "../dom.js";
import { rulePath } from "./alerts.js";
import { loadFailed, tabs } from "../alerting.js";

const COMPARATORS = [
  ["gt", "> greater than"],
  ["gte", "≥ at least"],
  ["lt", "< less than"],
  ["lte", "≤ at most"],
  ["eq", "= equal to"],
  ["neq", "≠ not equal to"],
];

function select(options, value, name) {
  return h("select", { name }, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

// A number box's text as the API should get it: absent when empty, a number
// when it reads as one, and otherwise the text itself, for the API to name.
function numberOf(input) {
  const text = input.value.trim();
  if (!text) return undefined;
  return Number.isNaN(Number(text)) ? text : Number(text);
}

export async function render(main, { params, session, navigate, setTitle }) {
  const editing = params.length > 0;
  const title = editing ? "Edit alert rule" : "Create an alert rule";
  setTitle(title);
  if (!session.canWrite) {
    replace(main, tabs("rules"), h("h1", {}, title), errorState("Changing alert rules needs an admin key; this key may only read."));
    return;
  }
  replace(main, tabs("rules"), h("h1", {}, title), loading("meters and destinations"));
  let rule = null;
  let meters;
  let destinations;
  try {
    [rule, meters, destinations] = await Promise.all([
      editing ? api("GET", rulePath(params[0])) : null,
      allPages("/v1/meters", { limit: 1000 }),
      api("GET", "/v1/alerts/destinations", { query: { limit: 1000 } }).then((answer) => answer.items),
    ]);
  } catch (error) {
    replace(main, tabs("rules"), h("h1", {}, title), loadFailed(error, "The form's meters, destinations or rule", null));
    return;
  }
  if (editing) setTitle(`Edit ${rule.name}`);

  const formError = h("div", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
  const name = h("input", { type: "text", name: "name", autocomplete: "off", value: rule?.name ?? "" });
  const meterNames = meters.map((m) => m.name);
  if (rule && !meterNames.includes(rule.meter)) meterNames.unshift(rule.meter);
  const meter = select(meterNames.map((m) => [m, m]), rule?.meter ?? meterNames[0], "meter");
  const destinationOptions = destinations.map((d) => [d.id, `${d.name} (${d.webhook_url})`]);
  if (rule?.destination_id && !destinations.some((d) => d.id === rule.destination_id)) {
    destinationOptions.unshift([rule.destination_id, rule.destination_id]);
  }
  const destination = select([["", "Choose a destination"], ...destinationOptions], rule?.destination_id ?? "", "destination_id");
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: rule ? rule.enabled : true, id: uid("enabled") });
  const subject = h("input", { type: "text", name: "subject", autocomplete: "off", spellcheck: "false", value: rule?.subject ?? "" });
  const windowSeconds = h("input", { type: "text", inputmode: "numeric", name: "window_seconds", value: String(rule?.window_seconds ?? 3600) });
  const comparator = select(COMPARATORS, rule?.comparator ?? "gte", "comparator");
  const threshold = h("input", { type: "text", inputmode: "decimal", name: "threshold", value: String(rule?.threshold ?? "") });
  const interval = h("input", { type: "text", inputmode: "numeric", name: "evaluation_interval_seconds", value: String(rule?.evaluation_interval_seconds ?? 60) });
  const groupBy = h("select", { name: "group_by" });
  const controls = {
    name, meter, destination_id: destination, enabled, subject, window_seconds: windowSeconds,
    comparator, threshold, evaluation_interval_seconds: interval, group_by: groupBy,
  };

  // Group by: nothing, the subject, or a dimension of the chosen meter.
  function fillGroupBy(selected) {
    const dimensions = meters.find((m) => m.name === meter.value)?.dimensions ?? [];
    const options = [["", "No grouping: one state"], ["subject", "subject"], ...dimensions.map((d) => [d.name, d.name])];
    if (selected && !options.some(([v]) => v === selected)) options.push([selected, selected]);
    replace(groupBy, options.map(([v, label]) => h("option", { value: v, selected: v === selected }, label)));
  }
  fillGroupBy(rule?.group_by ?? "");
  meter.addEventListener("change", () => fillGroupBy(groupBy.value));

  // Filters: equality on declared dimensions, one row each (`metadata.<key>` in errors).
  const filterRows = h("div", { class: "filter-rows" });
  const filtersError = h("p", { class: "field-error", id: uid("filters-error"), hidden: true });
  const addFilter = h("button", { type: "button", class: "secondary", on: { click: () => addFilterRow() } }, "Add filter");
  function addFilterRow(key = "", value = "") {
    const keyBox = h("input", { type: "text", autocomplete: "off", spellcheck: "false", value: key, dataset: { filter: "key" } });
    const valueBox = h("input", { type: "text", autocomplete: "off", spellcheck: "false", value, dataset: { filter: "value" } });
    const row = h(
      "div",
      { class: "filter-row" },
      field("Dimension", keyBox),
      field("Value", valueBox),
      h("button", { type: "button", class: "secondary small", on: { click: () => { row.remove(); renumber(); } } }, "Remove"),
    );
    filterRows.append(row);
    renumber();
    if (!key) keyBox.focus();
  }
  function renumber() {
    [...filterRows.children].forEach((row, index) => {
      row.querySelector("[data-filter=key]").setAttribute("aria-label", `Dimension of filter ${index + 1}`);
      row.querySelector("[data-filter=value]").setAttribute("aria-label", `Value of filter ${index + 1}`);
    });
  }
  for (const [key, value] of Object.entries(rule?.metadata ?? {})) addFilterRow(key, value);

  function filters() {
    const metadata = {};
    for (const row of filterRows.children) {
      const key = row.querySelector("[data-filter=key]").value.trim();
      const value = row.querySelector("[data-filter=value]").value;
      if (key || value) metadata[key] = value;
    }
    return metadata;
  }

  function controlOf(error) {
    const fieldName = error.field;
    if (controls[fieldName]) return controls[fieldName];
    const match = /^metadata\.(.*)$/.exec(fieldName || "");
    if (!match) return null;
    const row = [...filterRows.children].find((r) => r.querySelector("[data-filter=key]").value.trim() === match[1]);
    if (!row) return null;
    // An unknown or missing dimension is the key's fault; a value of the wrong type, the value's.
    const keyFault = /unknown dimension|filter key/.test(error.message);
    return row.querySelector(keyFault ? "[data-filter=key]" : "[data-filter=value]");
  }

  function clearErrors() {
    formError.hidden = true;
    formError.replaceChildren();
    filtersError.hidden = true;
    for (const control of main.querySelectorAll("[aria-invalid]")) setFieldError(control, null);
  }

  function showError(error) {
    const control = error instanceof ApiError ? controlOf(error) : null;
    if (control && setFieldError(control, error.fieldMessage)) {
      control.focus();
      return;
    }
    if (error instanceof ApiError && (error.field || "").startsWith("metadata")) {
      filtersError.textContent = error.field === "metadata" ? error.fieldMessage : `${error.field}: ${error.fieldMessage}`;
      filtersError.hidden = false;
      addFilter.focus();
      return;
    }
    const named = error instanceof ApiError && error.field ? `${error.field}: ${error.fieldMessage}` : error.message;
    replace(formError, h("p", {}, h("strong", {}, editing ? "Not saved: " : "Not created: "), named));
    formError.hidden = false;
    formError.focus();
  }

  const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Create alert rule");

  async function onSubmit(event) {
    event.preventDefault();
    clearErrors();
    const body = {
      name: name.value.trim(),
      meter: meter.value,
      destination_id: destination.value,
      enabled: enabled.checked,
      subject: subject.value.trim(),
      metadata: filters(),
      comparator: comparator.value,
      group_by: groupBy.value,
    };
    for (const [key, input] of [["window_seconds", windowSeconds], ["threshold", threshold], ["evaluation_interval_seconds", interval]]) {
      const value = numberOf(input);
      if (value !== undefined) body[key] = value;
    }
    submit.disabled = true;
    try {
      const saved = editing ? await api("PUT", rulePath(rule.id), { body }) : await api("POST", "/v1/alerts", { body });
      notify(`Alert rule ${saved.name} ${editing ? "saved" : "created"}.`);
      navigate(`#/alerts/${encodeURIComponent(saved.id)}`);
    } catch (error) {
      showError(error);
    } finally {
      submit.disabled = false;
    }
  }

  const noDestination = destinations.length
    ? null
    : h("p", { class: "field-hint" }, "No destination yet: ", h("a", { href: "#/destinations" }, "create one"), " to receive this rule's events.");
  const form = h(
    "form",
    { class: "card alert-form", novalidate: true, on: { submit: onSubmit } },
    formError,
    field("Name", name, { hint: "At most 120 characters." }),
    h("div", { class: "form-grid" },
      field("Meter", meter, { hint: "Its aggregation over the window is the value compared." }),
      field("Destination", destination, { hint: "Receives the triggered and resolved events." }),
    ),
    noDestination,
    h("div", { class: "field-check" }, enabled, h("label", { for: enabled.id }, "Enabled: evaluated on schedule")),
    h("h2", {}, "Condition"),
    h("div", { class: "form-grid" },
      field("Comparator", comparator),
      field("Threshold", threshold, { hint: "A finite number; empty means 0." }),
      field("Window (seconds)", windowSeconds, { hint: "Rolling, 60 to 31,622,400 (366 days)." }),
      field("Evaluate every (seconds)", interval, { hint: "1 to 86,400." }),
    ),
    h("h2", {}, "Which events count"),
    field("Subject", subject, { hint: "Only this subject's events; empty for every subject." }),
    h(
      "section",
      { class: "filters", "aria-labelledby": "filters-heading" },
      h("h3", { id: "filters-heading" }, "Filters"),
      h("p", { class: "field-hint" }, "Only events whose dimension has this value count."),
      filterRows,
      filtersError,
      addFilter,
    ),
    field("Group by", groupBy, { hint: "One state, and its own events, per subject or per value of a dimension." }),
    h("div", { class: "actions" }, submit, h("a", { class: "button secondary", href: editing ? `#/alerts/${encodeURIComponent(rule.id)}` : "#/alerts" }, "Cancel")),
  );
  replace(main, tabs("rules"), h("h1", {}, editing ? `Edit alert rule ${rule.name}` : title), form);
}
