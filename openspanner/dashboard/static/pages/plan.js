// One plan version (#/plans/<id>): its limits, its versions (the parent chain
// back to version 1, and the current version when this one is retired), the
// subjects assigned to it, and (admin, current version) assigning a subject.

import { ApiError, api } from "../api.js";
import { confirmDialog, empty, errorState, field, h, loading, notAvailable, notify, replace, setFieldError, table } from "../dom.js";
import { browserTimeZone, formatNumber, formatTime, isoSeconds, plural, zonedToInstant } from "../format.js";
import { isUnserved, planHref, planLabel } from "../quota.js";
import { subjectHref } from "./subjects.js";

const STATUS_ORDER = { active: 0, scheduled: 1, ended: 2 };

function planPath(id, rest = "") {
  return `/v1/plans/${encodeURIComponent(id)}${rest}`;
}

function limitsTable(plan) {
  return table(
    [
      { label: "Meter", cell: (l) => h("a", { href: `#/meters/${encodeURIComponent(l.meter)}/usage` }, l.meter) },
      { label: "Period", cell: (l) => l.period },
      { label: "Limit", cell: (l) => formatNumber(l.limit), numeric: true },
      { label: "Warning at", cell: (l) => `${formatNumber(l.warning_percent)}%`, numeric: true },
      { label: "Enforcement", cell: (l) => l.enforcement },
      { label: "When unsure", cell: (l) => (l.failure_policy || "").replace("_", " ") },
    ],
    plan.limits || [],
    { rowAttrs: (l) => ({ class: "limit-line", dataset: { meter: l.meter } }) },
  );
}

// Every version from this one back to version 1, newest first, and the current
// version when this one is retired (the API lists current versions only, so
// the one whose parent chain passes through this id).
async function versionsOf(plan) {
  const known = new Map([[plan.id, plan]]);
  async function get(id) {
    if (!known.has(id)) known.set(id, await api("GET", planPath(id)));
    return known.get(id);
  }
  const chain = [plan];
  let cursor = plan;
  while (cursor.parent_plan_id) {
    cursor = await get(cursor.parent_plan_id);
    chain.push(cursor);
  }
  if (plan.is_current) return chain;
  const current = (await api("GET", "/v1/plans")).items || [];
  for (const candidate of current.filter((p) => p.version > plan.version)) {
    const newer = [];
    let step = candidate;
    while (step && step.version > plan.version) {
      newer.push(step);
      if (step.parent_plan_id === plan.id) return [...newer, ...chain];
      step = step.parent_plan_id ? await get(step.parent_plan_id) : null;
    }
  }
  return chain;
}

export async function render(main, { params, session, setTitle }) {
  const id = params[0];
  setTitle("Plan");
  replace(main, h("h1", {}, "Plan"), loading("the plan"));
  let plan;
  try {
    plan = await api("GET", planPath(id));
  } catch (error) {
    const why = isUnserved(error)
      ? notAvailable("Plans")
      : errorState(error instanceof ApiError && error.status === 404 ? `There is no plan ${id}.` : `Could not load the plan: ${error.message}`);
    replace(main, h("h1", {}, "Plan"), why, h("p", {}, h("a", { href: "#/plans" }, "All plans")));
    return;
  }
  setTitle(planLabel(plan));
  const versions = h("div", {}, loading("versions"));
  const assigned = h("div", {}, loading("assigned subjects"));
  const withEnded = h("input", { type: "checkbox", id: "assignment-history" });
  replace(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, plan.name, " ", h("span", { class: "muted" }, `v${plan.version}`)),
      h(
        "div",
        { class: "row-actions" },
        h("span", { class: `badge ${plan.is_current ? "state-ok" : "state-no_plan"}`, dataset: { current: String(plan.is_current) } }, plan.is_current ? "current" : "retired"),
        session.canWrite && plan.is_current ? h("a", { class: "button secondary", href: `${planHref(plan.id)}/edit` }, "Edit (new version)") : null,
        h("a", { href: "#/plans" }, "All plans"),
      ),
    ),
    plan.description ? h("p", { class: "lead" }, plan.description) : null,
    h("h2", {}, "Limits"),
    limitsTable(plan),
    h("h2", {}, "Versions"),
    versions,
    h("div", { class: "page-head" }, h("h2", {}, "Assigned subjects"), h("div", { class: "field-check" }, withEnded, h("label", { for: withEnded.id }, "Include ended assignments"))),
    session.canWrite && plan.is_current ? assignForm() : null,
    assigned,
  );

  async function loadVersions() {
    let chain;
    try {
      chain = await versionsOf(plan);
    } catch (error) {
      replace(versions, errorState(`Could not load the versions: ${error.message}`, loadVersions));
      return;
    }
    replace(
      versions,
      h(
        "ol",
        { class: "version-list", reversed: true },
        chain.map((version) =>
          h(
            "li",
            { dataset: { version: String(version.version), current: String(version.is_current) } },
            version.id === plan.id ? h("strong", {}, planLabel(version)) : h("a", { href: planHref(version.id) }, planLabel(version)),
            h("span", { class: "muted" }, ` · ${version.is_current ? "current" : "retired"} · made ${formatTime(version.created_at)}`),
            version.parent_plan_id ? h("span", { class: "muted" }, ` · replaced v${version.version - 1}`) : null,
          ),
        ),
      ),
    );
  }

  // Loads can overlap (an assignment ended, then "Include ended" ticked at once): only the
  // latest one asked for may draw the list, or an older answer would hide what was asked.
  let latestLoad = 0;

  async function loadAssignments() {
    const load = ++latestLoad;
    replace(assigned, loading("assigned subjects"));
    let answer;
    try {
      answer = await api("GET", "/v1/plans/assignments", { query: { plan_id: plan.id, include_history: withEnded.checked, limit: 200 } });
    } catch (error) {
      if (load !== latestLoad) return;
      replace(assigned, isUnserved(error) ? notAvailable("Assignments") : errorState(`Could not load the assignments: ${error.message}`, loadAssignments));
      return;
    }
    if (load !== latestLoad) return;
    const items = [...(answer.items || [])].sort((a, b) => (STATUS_ORDER[a.status] ?? 3) - (STATUS_ORDER[b.status] ?? 3));
    if (!items.length) {
      replace(assigned, empty(plan.is_current ? "No subject is assigned to this version." : "No subject is on this version: a retired version's subjects moved to the next one."));
      return;
    }
    replace(
      assigned,
      h("p", { class: "muted" }, plural(items.length, "assignment")),
      table(
        [
          { label: "Subject", cell: (a) => h("a", { href: subjectHref(a.subject) }, a.subject) },
          { label: "Status", cell: (a) => a.status },
          { label: "Assigned", cell: (a) => formatTime(a.assigned_at) },
          { label: "Windows from", cell: (a) => formatTime(a.period_anchor_at) },
          { label: "Ended", cell: (a) => (a.unassigned_at ? formatTime(a.unassigned_at) : h("span", { class: "muted" }, "—")) },
          { label: "Actions", cell: (a) => (session.canWrite && a.status !== "ended" ? unassignButton(a) : null) },
        ],
        items,
        { rowAttrs: (a) => ({ class: "assignment-row", dataset: { subject: a.subject, status: a.status } }) },
      ),
    );
  }

  function unassignButton(assignment) {
    return h(
      "button",
      {
        type: "button",
        class: "danger small",
        "aria-label": `End the assignment of ${assignment.subject}`,
        on: {
          click: async () => {
            const sure = await confirmDialog({
              title: `End ${assignment.subject}'s plan?`,
              message: "The subject is then checked as having no plan.",
              confirmLabel: "End assignment",
              danger: true,
            });
            if (!sure) return;
            try {
              await api("DELETE", `/v1/plans/subjects/${encodeURIComponent(assignment.subject)}`);
            } catch (error) {
              notify(`Could not end the assignment: ${error.message}`, "error");
              return;
            }
            notify(`${assignment.subject} no longer has a plan.`);
            loadAssignments();
          },
        },
      },
      "End",
    );
  }

  function assignForm() {
    const subject = h("input", { type: "text", name: "subject", autocomplete: "off", spellcheck: "false" });
    const effective = h("input", { type: "datetime-local", name: "effective_at" });
    const formError = h("p", { class: "form-error", role: "alert", hidden: true });
    const submit = h("button", { type: "submit", class: "primary" }, "Assign");
    const zone = browserTimeZone();
    async function onSubmit(event) {
      event.preventDefault();
      setFieldError(subject, null);
      setFieldError(effective, null);
      formError.hidden = true;
      const body = { plan_id: plan.id };
      if (effective.value) {
        const instant = zonedToInstant(effective.value, zone);
        body.effective_at = instant ? isoSeconds(instant) : effective.value;
      }
      submit.disabled = true;
      try {
        await api("PUT", `/v1/plans/subjects/${encodeURIComponent(subject.value.trim())}`, { body });
        notify(`${subject.value.trim()} assigned to ${planLabel(plan)}.`);
        subject.value = "";
        effective.value = "";
        loadAssignments();
      } catch (error) {
        const control = error instanceof ApiError ? { subject, effective_at: effective }[error.field] : null;
        if (!(control && error.status !== 409 && setFieldError(control, error.fieldMessage))) {
          formError.textContent = `Not assigned: ${error.message}`;
          formError.hidden = false;
        }
      } finally {
        submit.disabled = false;
      }
    }
    return h(
      "form",
      { class: "card inline-form assign-form", novalidate: true, on: { submit: onSubmit } },
      h("h2", {}, "Assign a subject"),
      formError,
      field("Subject", subject, { hint: "It moves here from any plan it had; its usage windows keep their start." }),
      field(`Effective at (${zone})`, effective, { hint: "Empty means now." }),
      h("div", { class: "actions" }, submit),
    );
  }

  withEnded.addEventListener("change", loadAssignments);
  await Promise.all([loadVersions(), loadAssignments()]);
}
