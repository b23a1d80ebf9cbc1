// Plans (#/plans): the current version of each plan with its limits, and
// delete (refused by the API, 409, while subjects are assigned). Create and
// edit are pages/plan_form.js; one plan's versions and subjects pages/plan.js.

import { ApiError, api } from "../api.js";
import { confirmDialog, empty, errorState, h, loading, notAvailable, notify, replace, table } from "../dom.js";
import { formatTime, plural } from "../format.js";
import { isUnserved, limitSummary, planHref } from "../quota.js";

export function limitList(limits) {
  if (!limits.length) return h("span", { class: "muted" }, "none");
  return h(
    "ul",
    { class: "chips" },
    limits.map((limit) =>
      h(
        "li",
        { class: "chip", dataset: { meter: limit.meter } },
        h("span", { class: "chip-name" }, limit.meter),
        " ",
        h("span", { class: "muted" }, limitSummary(limit)),
      ),
    ),
  );
}

export async function render(main, { session, setTitle }) {
  setTitle("Plans");
  const body = h("div", {}, loading("plans"));
  replace(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Plans"),
      session.canWrite ? h("a", { class: "button primary", href: "#/plans/new" }, "Create plan") : null,
    ),
    h("p", { class: "lead" }, "Limits per meter and period that subjects are held to. Editing a plan makes a new version and moves its subjects to it."),
    body,
  );

  async function load() {
    replace(body, loading("plans"));
    let answer;
    try {
      answer = await api("GET", "/v1/plans");
    } catch (error) {
      replace(body, isUnserved(error) ? notAvailable("Plans") : errorState(`Could not load the plans: ${error.message}`, load));
      return;
    }
    const items = answer.items || [];
    if (!items.length) {
      replace(
        body,
        empty(session.canWrite ? "No plans yet. Create one to limit what subjects may use." : "No plans yet. An admin key can create them."),
      );
      return;
    }
    replace(
      body,
      h("p", { class: "muted" }, plural(items.length, "plan")),
      table(
        [
          { label: "Name", cell: (p) => h("a", { href: planHref(p.id) }, p.name) },
          { label: "Version", cell: (p) => `v${p.version}`, numeric: true },
          { label: "Limits", cell: (p) => limitList(p.limits || []) },
          { label: "Description", cell: (p) => p.description || h("span", { class: "muted" }, "—") },
          { label: "Updated", cell: (p) => formatTime(p.updated_at) },
          { label: "Actions", cell: (p) => actions(p) },
        ],
        items,
        { rowAttrs: (p) => ({ dataset: { planId: p.id, plan: p.name } }) },
      ),
    );
  }

  function actions(plan) {
    return h(
      "div",
      { class: "row-actions" },
      h("a", { href: planHref(plan.id) }, "Subjects"),
      session.canWrite && plan.is_current ? h("a", { href: `${planHref(plan.id)}/edit` }, "Edit") : null,
      session.canWrite
        ? h(
            "button",
            { type: "button", class: "danger small", "aria-label": `Delete plan ${plan.name}`, on: { click: () => remove(plan) } },
            "Delete",
          )
        : null,
    );
  }

  async function remove(plan) {
    const sure = await confirmDialog({
      title: `Delete plan ${plan.name}?`,
      message: "A plan that subjects are assigned to cannot be deleted: end their assignments first.",
      confirmLabel: "Delete plan",
      danger: true,
    });
    if (!sure) return;
    try {
      await api("DELETE", `/v1/plans/${encodeURIComponent(plan.id)}`);
    } catch (error) {
      const refused = error instanceof ApiError && error.status === 409;
      notify(refused ? `${plan.name} was not deleted: ${error.message}` : `Could not delete ${plan.name}: ${error.message}`, "error");
      return;
    }
    notify(`Plan ${plan.name} deleted.`);
    load();
  }

  await load();
}
