// A subject's plan and how close it is to each limit, for the subject's page:
// one GET /v1/plans/subjects/{subject}/progress answers every limit at once
// (a bar per limit, the warning threshold marked, the window and its reset).

import { ApiError, api } from "./api.js";
import { errorState, h, loading, replace } from "./dom.js";
import { browserTimeZone } from "./format.js";
import { isUnserved, planHref, planLabel, progressBar } from "./quota.js";

function decisionsHref(subject) {
  return `#/decisions?subject=${encodeURIComponent(subject)}`;
}

// The section, and load() to fill (or refill) it.
export function planSection(subject) {
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
    );
  }

  return { section, load };
}
