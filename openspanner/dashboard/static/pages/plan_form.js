// Create a plan (#/plans/new) or edit one (#/plans/<id>/edit) with its limits
// editor: one row per limit (meter, period, limit, warning percent,
// enforcement, failure policy).
//
// As for meters, the API is the one validator: the form sends what was typed
// (novalidate, no rules copied here) and shows each refusal beside the field
// the API names, e.g. `limits[1].warning_percent` is the second row's box.
// Saving an edit makes a new version (the answer's id), so the page moves there;
// before that, Preview shows the assigned subjects' states under the proposed
// limits (POST /v1/plans/{id}/preview, which stores nothing).

import { ApiError, allPages, api } from "../api.js";
import { errorState, field, h, loading, notAvailable, notify, replace, setFieldError, table, uid } from "../dom.js";
import { formatNumber, plural } from "../format.js";
import { ENFORCEMENTS, FAILURE_POLICIES, PERIODS, isUnserved, planHref, stateBadge } from "../quota.js";

const LIMIT_FIELDS = ["meter", "period", "limit", "warning_percent", "enforcement", "failure_policy"];

function select(options, value) {
  return h("select", {}, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

// A number as typed: sent as a number when it reads as one, otherwise as the
// text, for the API to refuse by name; absent when left empty.
function typedNumber(input) {
  const text = input.value.trim();
  if (!text) return undefined;
  const number = Number(text);
  return Number.isNaN(number) ? text : number;
}

export async function render(main, { params, session, navigate, setTitle }) {
  const editing = params.length > 0;
  const title = editing ? "Edit plan" : "Create a plan";
  setTitle(title);
  if (!session.canWrite) {
    replace(main, h("h1", {}, title), errorState("Changing plans needs an admin key; this key may only read."));
    return;
  }
  replace(main, h("h1", {}, title), loading(editing ? "the plan" : "the meters"));
  let plan = null;
  let meters;
  try {
    [plan, meters] = await Promise.all([
      editing ? api("GET", `/v1/plans/${encodeURIComponent(params[0])}`) : null,
      allPages("/v1/meters", { limit: 1000 }),
    ]);
  } catch (error) {
    replace(
      main,
      h("h1", {}, title),
      isUnserved(error) ? notAvailable("Plans") : errorState(`Could not load ${editing ? "the plan" : "the meters"}: ${error.message}`),
    );
    return;
  }
  const meterNames = meters.map((m) => m.name);

  const controls = {};
  const formError = h("div", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
  const nameInput = h("input", { type: "text", name: "name", autocomplete: "off", value: plan?.name ?? "" });
  const description = h("input", { type: "text", name: "description", value: plan?.description ?? "" });
  Object.assign(controls, { name: nameInput, description });

  const rows = h("div", { class: "limit-rows" });
  const limitsError = h("p", { class: "field-error", id: uid("limits-error"), hidden: true });
  const addButton = h("button", { type: "button", class: "secondary", on: { click: () => addRow() } }, "Add limit");

  function addRow(limit = null) {
    // A meter no longer listed (deleted since) stays choosable, so the API can name it.
    const names = limit && !meterNames.includes(limit.meter) ? [limit.meter, ...meterNames] : meterNames;
    const boxes = {
      meter: select(names.map((n) => [n, n]), limit?.meter ?? names[0]),
      period: select(PERIODS, limit?.period || "month"),
      limit: h("input", { type: "text", inputmode: "decimal", autocomplete: "off", value: limit ? String(limit.limit) : "" }),
      warning_percent: h("input", {
        type: "text",
        inputmode: "decimal",
        autocomplete: "off",
        placeholder: "80",
        value: limit?.warning_percent ? String(limit.warning_percent) : "",
      }),
      enforcement: select(ENFORCEMENTS, limit?.enforcement || "advisory"),
      failure_policy: select(FAILURE_POLICIES, limit?.failure_policy || "fail_open"),
    };
    for (const [name, box] of Object.entries(boxes)) box.dataset.limit = name;
    const row = h(
      "fieldset",
      { class: "limit-row" },
      h("legend", {}, "Limit"),
      field("Meter", boxes.meter),
      field("Period", boxes.period),
      field("Limit", boxes.limit),
      field("Warning %", boxes.warning_percent),
      field("Enforcement", boxes.enforcement),
      field("When unsure", boxes.failure_policy),
      h("button", { type: "button", class: "secondary small", on: { click: () => { row.remove(); renumber(); } } }, "Remove"),
    );
    rows.append(row);
    renumber();
    if (!limit) boxes.meter.focus();
  }

  function renumber() {
    [...rows.children].forEach((row, index) => {
      row.querySelector("legend").textContent = `Limit ${index + 1}`;
      row.querySelector("[data-limit=meter]").setAttribute("aria-label", `Meter of limit ${index + 1}`);
      row.querySelector("[data-limit=limit]").setAttribute("aria-label", `Limit ${index + 1}`);
      row.querySelector("[data-limit=warning_percent]").setAttribute("aria-label", `Warning percent of limit ${index + 1}`);
    });
  }

  function limitsOf() {
    return [...rows.children].map((row) => {
      const box = (name) => row.querySelector(`[data-limit=${name}]`);
      const limit = {
        meter: box("meter").value,
        period: box("period").value,
        enforcement: box("enforcement").value,
        failure_policy: box("failure_policy").value,
      };
      const amount = typedNumber(box("limit"));
      const warning = typedNumber(box("warning_percent"));
      if (amount !== undefined) limit.limit = amount;
      if (warning !== undefined) limit.warning_percent = warning;
      return limit;
    });
  }

  for (const limit of plan?.limits ?? []) addRow(limit);
  if (!editing && meterNames.length) addRow();

  function clearErrors() {
    formError.hidden = true;
    formError.replaceChildren();
    limitsError.hidden = true;
    for (const control of main.querySelectorAll("[aria-invalid]")) setFieldError(control, null);
  }

  // The control the API's field name points at: `name`, `limits[2].limit`...
  function controlOf(fieldName) {
    if (controls[fieldName]) return controls[fieldName];
    const match = /^limits\[(\d+)\]\.(\w+)$/.exec(fieldName || "");
    if (match && LIMIT_FIELDS.includes(match[2])) {
      const row = rows.children[Number(match[1])];
      return row ? row.querySelector(`[data-limit=${match[2]}]`) : null;
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
    if (error instanceof ApiError && error.field === "limits" && !refused) {
      limitsError.textContent = error.fieldMessage;
      limitsError.hidden = false;
      addButton.focus();
      return;
    }
    if (refused) {
      replace(formError, h("p", {}, h("strong", {}, editing ? "The change was refused: " : "Not created: "), error.message));
      if (editing) formError.append(h("p", {}, "Only the current version of a plan can be edited; a retired one is kept as it was."));
    } else if (isUnserved(error)) {
      replace(formError, h("p", {}, "Plans are not available yet on this server."));
    } else {
      replace(formError, h("p", {}, error instanceof ApiError && error.field ? `${error.field}: ${error.fieldMessage}` : error.message));
    }
    formError.hidden = false;
    formError.focus();
  }

  const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save new version" : "Create plan");
  const impact = h("div", { class: "plan-impact", "aria-live": "polite" });
  const previewButton = editing
    ? h("button", { type: "button", class: "secondary", on: { click: () => preview() } }, "Preview impact")
    : null;

  function bodyOf() {
    return { name: nameInput.value.trim(), description: description.value, limits: limitsOf() };
  }

  async function preview() {
    clearErrors();
    replace(impact, loading("the impact"));
    previewButton.disabled = true;
    try {
      showImpact(await api("POST", `/v1/plans/${encodeURIComponent(plan.id)}/preview`, { body: bodyOf() }));
    } catch (error) {
      replace(impact, isUnserved(error) ? notAvailable("A preview of a plan's impact") : null);
      if (!isUnserved(error)) showError(error);
    } finally {
      previewButton.disabled = false;
    }
  }

  // The counts, then only the limits whose state would change (or go away).
  function showImpact(answer) {
    const summary = answer.summary || {};
    const changes = (answer.subjects || []).flatMap((subject) =>
      (subject.items || [])
        .filter((item) => item.removed || item.current_state !== item.proposed_state)
        .map((item) => ({ subject: subject.subject, ...item })),
    );
    replace(
      impact,
      h("h2", {}, "Impact of these limits"),
      h(
        "p",
        { class: "impact-summary" },
        `${plural(summary.subjects ?? 0, "subject")} assigned: ${formatNumber(summary.ok ?? 0)} ok, ` +
          `${formatNumber(summary.warning ?? 0)} warning, ${formatNumber(summary.exceeded ?? 0)} exceeded` +
          (summary.removed_limits ? `; ${plural(summary.removed_limits, "limit")} removed` : "") +
          ". Nothing is saved until you save.",
      ),
      changes.length
        ? table(
            [
              { label: "Subject", cell: (c) => c.subject },
              { label: "Limit", cell: (c) => `${c.meter} per ${c.period}` },
              { label: "Current", cell: (c) => formatNumber(c.current), numeric: true },
              { label: "Now", cell: (c) => [formatNumber(c.current_limit), " ", stateBadge(c.current_state)] },
              { label: "Proposed", cell: (c) => (c.removed ? "removed" : [formatNumber(c.proposed_limit), " ", stateBadge(c.proposed_state)]) },
            ],
            changes.slice(0, 50),
            { caption: changes.length > 50 ? `The first 50 of ${changes.length} changes` : "What changes" },
          )
        : h("p", { class: "muted" }, "No subject's state changes."),
    );
  }

  async function onSubmit(event) {
    event.preventDefault();
    clearErrors();
    const body = bodyOf();
    submit.disabled = true;
    try {
      const saved = editing
        ? await api("PUT", `/v1/plans/${encodeURIComponent(plan.id)}`, { body })
        : await api("POST", "/v1/plans", { body });
      notify(editing ? `Plan ${saved.name} saved as version ${saved.version}.` : `Plan ${saved.name} created.`);
      navigate(planHref(saved.id));
    } catch (error) {
      showError(error);
    } finally {
      submit.disabled = false;
    }
  }

  const form = h(
    "form",
    { class: "card plan-form", novalidate: true, on: { submit: onSubmit } },
    formError,
    editing
      ? h(
          "p",
          { class: "field-hint" },
          `Saving makes version ${plan.version + 1} of this plan, retires version ${plan.version} and moves its assigned subjects to the new one; their usage windows are kept.`,
        )
      : null,
    field("Name", nameInput, { hint: "At most 120 characters." }),
    field("Description", description, { hint: "Shown in the dashboard." }),
    h(
      "section",
      { class: "limits", "aria-labelledby": "limits-heading" },
      h("h2", { id: "limits-heading" }, "Limits"),
      h(
        "p",
        { class: "field-hint" },
        "Per meter and period: the most a subject may use in a window that starts when it was first assigned. " +
          "Warning % is when the state turns to warning (80 when empty). Hard limits refuse a consume over quota; " +
          "advisory ones record it and flag it. When unsure: if the usage cannot be read, fail open accepts a consume " +
          "and fail closed refuses it.",
      ),
      meterNames.length ? null : h("p", { class: "state state-empty" }, "There are no meters yet: create one first, then limit it here."),
      rows,
      limitsError,
      addButton,
    ),
    impact,
    h(
      "div",
      { class: "actions" },
      submit,
      previewButton,
      h("a", { class: "button secondary", href: editing ? planHref(plan.id) : "#/plans" }, "Cancel"),
    ),
  );
  replace(main, h("h1", {}, editing ? `Edit plan ${plan.name} (v${plan.version})` : title), form);
}
