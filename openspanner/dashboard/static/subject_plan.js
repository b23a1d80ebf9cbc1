// A subject's plan and how close it is to each limit, for the subject's page:
// one GET /v1/plans/subjects/{subject}/progress answers every limit at once
// (a bar per limit, the warning threshold marked, the window and its reset).
// An admin key can also put the subject on a (current) plan from here.

import { ApiError, api } from "./api.js";
import { errorState, field, h, loading, notify, replace } from "./dom.js";
import { browserTimeZone } from "./format.js";
import { isUnserved, planHref, planLabel, progressBar } from "./quota.js";

function decisionsHref(subject) {
  return `#/decisions?subject=${encodeURIComponent(subject)}`;
}

// A plan picker for admins: PUT /v1/plans/subjects/{subject} from now on.
async function assignControl(subject, currentId, onAssigned) {
  let plans;
  try {
    plans = (await api("GET", "/v1/plans")).items || [];
  } catch {
    return null; // the picker only; the progress above still shows
  }
  const others = plans.filter((p) => p.id !== currentId);
  if (!others.length) return null;
  const choice = h("select", { name: "plan_id" }, others.map((p) => h("option", { value: p.id }, planLabel(p))));
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "secondary" }, currentId ? "Move to this plan" : "Assign");
  async function onSubmit(event) {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      await api("PUT", `/v1/plans/subjects/${encodeURIComponent(subject)}`, { body: { plan_id: choice.value } });
    } catch (failure) {
      error.textContent = `Not assigned: ${failure.message}`;
      error.hidden = false;
      submit.disabled = false;
      return;
    }
    notify(`${subject} is on ${choice.selectedOptions[0].textContent} from now on.`);
    onAssigned();
  }
  return h(
    "form",
    { class: "inline-form subject-assign", novalidate: true, on: { submit: onSubmit } },
    error,
    field(currentId ? "Another plan" : "Assign a plan", choice, { hint: "From now; the usage windows keep their start." }),
    submit,
  );
}

// The section, and load() to fill (or refill) it.
export function planSection(subject, { canWrite = false } = {}) {
  const body = h("div", {}, loading("the plan"));
  const section = h("section", { class: "subject-plan", "aria-labelledby": "subject-plan-heading" }, body);
  const zone = browserTimeZone();

  async function load() {
    let progress;
    try {
      progress = await api("GET", `/v1/plans/subjects/${encodeURIComponent(subject)}/progress`);
    } catch (error) {
      if (isUnserved(error)) {
        // A server without plans: the usage below is still the page.
        replace(body);
        section.hidden = true;
      } else if (error instanceof ApiError && error.status === 404) {
        replace(
          body,
          h("h2", { id: "subject-plan-heading" }, "Plan"),
          h("p", { class: "state state-empty no-plan" }, `${subject} is not assigned to a plan: checks answer no_plan and consumes are accepted as advisory.`),
          h("p", {}, h("a", { href: "#/plans" }, "Plans"), " · ", h("a", { href: decisionsHref(subject) }, "Decisions")),
          canWrite ? await assignControl(subject, null, load) : null,
        );
      } else {
        replace(body, h("h2", { id: "subject-plan-heading" }, "Plan"), errorState(`Could not load the plan's progress: ${error.message}`, load));
      }
      return;
    }
    const items = progress.items || [];
    replace(
      body,
      h(
        "div",
        { class: "page-head" },
        h("h2", { id: "subject-plan-heading" }, "Plan ", h("a", { href: planHref(progress.plan.id), class: "plan-link" }, planLabel(progress.plan))),
        h("div", { class: "row-actions" }, h("a", { href: decisionsHref(subject) }, "Decisions"), h("a", { href: `#/entitlements?subject=${encodeURIComponent(subject)}` }, "States")),
      ),
      items.length
        ? h("div", { class: "quota-grid" }, items.map((item) => progressBar(item, { timeZone: zone })))
        : h("p", { class: "state state-empty" }, "The plan has no limits."),
      h("p", { class: "muted" }, `Times in ${zone}.`),
      canWrite ? await assignControl(subject, progress.plan.id, load) : null,
    );
  }

  return { section, load };
}
