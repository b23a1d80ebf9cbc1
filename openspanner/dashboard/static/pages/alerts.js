// Alert rules (#/alerts): each rule with its state per group, and, for admin
// keys, evaluate now, edit and delete. One rule's page is alert_rule.js, the
// form alert_form.js.

import { api } from "../api.js";
import { confirmDialog, empty, h, loading, notify, replace, table } from "../dom.js";
import { formatNumber, formatTime, plural } from "../format.js";
import { condition, groupLabel, loadFailed, statusBadge, tabs } from "../alerting.js";

export function rulePath(id, rest = "") {
  return `/v1/alerts/${encodeURIComponent(id)}${rest}`;
}

// Each group's state as a short line: "region = eu: alerting (1,200)".
export function groupStates(rule) {
  const states = rule.states || [];
  if (!states.length) return h("span", { class: "muted" }, "not evaluated yet");
  return h(
    "ul",
    { class: "group-states" },
    states.map((state) =>
      h(
        "li",
        { dataset: { group: state.group_value ?? "" } },
        statusBadge(state.status),
        " ",
        h("span", { class: "group-name" }, groupLabel(state)),
        state.status === "no_data" ? null : h("span", { class: "muted" }, ` ${formatNumber(state.value)}`),
      ),
    ),
  );
}

// Evaluate a rule now and say what came of it; the caller redraws.
export async function evaluateNow(rule) {
  try {
    const result = await api("POST", rulePath(rule.id, "/evaluate"));
    const events = result.events || [];
    const made = events.length ? `, ${plural(events.length, "event")}: ${events.map((e) => e.type).join(", ")}` : ", no new event";
    notify(`Rule ${rule.name} evaluated: ${result.state.status.replace("_", " ")}${made}.`);
    return result;
  } catch (error) {
    notify(`Could not evaluate ${rule.name}: ${error.message}`, "error");
    return null;
  }
}

export async function deleteRule(rule) {
  const sure = await confirmDialog({
    title: `Delete alert rule ${rule.name}?`,
    message: "It is no longer evaluated and sends no more events. Its past events and deliveries stay listed.",
    confirmLabel: "Delete rule",
    danger: true,
  });
  if (!sure) return false;
  try {
    await api("DELETE", rulePath(rule.id));
  } catch (error) {
    notify(`Could not delete ${rule.name}: ${error.message}`, "error");
    return false;
  }
  notify(`Alert rule ${rule.name} deleted.`);
  return true;
}

export async function render(main, { session, setTitle }) {
  setTitle("Alert rules");
  const body = h("div", {}, loading("alert rules"));
  replace(
    main,
    tabs("rules"),
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Alert rules"),
      session.canWrite ? h("a", { class: "button primary", href: "#/alerts/new" }, "Create alert rule") : null,
    ),
    h(
      "p",
      { class: "lead" },
      "A rule watches a meter over a rolling window and sends one event to its destination when the " +
        "condition starts to hold (triggered) and one when it stops (resolved).",
    ),
    body,
  );

  async function load() {
    let items;
    try {
      items = (await api("GET", "/v1/alerts", { query: { limit: 1000 } })).items;
    } catch (error) {
      replace(body, loadFailed(error, "Alert rules", load));
      return;
    }
    if (!items.length) {
      replace(body, empty(session.canWrite ? "No alert rules yet. Create one to be told when usage crosses a threshold." : "No alert rules yet. An admin key can create them."));
      return;
    }
    replace(
      body,
      h("p", { class: "muted" }, plural(items.length, "rule")),
      table(
        [
          { label: "Rule", cell: (r) => h("a", { href: `#/alerts/${encodeURIComponent(r.id)}` }, r.name) },
          { label: "Meter", cell: (r) => r.meter },
          { label: "Condition", cell: (r) => condition(r) },
          { label: "Grouped by", cell: (r) => r.group_by || h("span", { class: "muted" }, "—") },
          { label: "State", cell: (r) => (r.enabled ? statusBadge(r.state?.status) : h("span", { class: "badge" }, "disabled")) },
          { label: "Per group", cell: (r) => groupStates(r) },
          { label: "Destination", cell: (r) => r.destination?.name || h("span", { class: "muted" }, "—") },
          { label: "Next evaluation", cell: (r) => (r.enabled ? formatTime(r.next_evaluate_at, undefined, { seconds: true }) : "—") },
          { label: "Actions", cell: (r) => actions(r) },
        ],
        items,
        { rowAttrs: (r) => ({ dataset: { rule: r.id } }) },
      ),
    );
  }

  function actions(rule) {
    if (!session.canWrite) return h("a", { href: `#/alerts/${encodeURIComponent(rule.id)}` }, "Events");
    return h(
      "div",
      { class: "row-actions" },
      h(
        "button",
        { type: "button", class: "secondary small", "aria-label": `Evaluate ${rule.name} now`, on: { click: async () => { if (await evaluateNow(rule)) load(); } } },
        "Evaluate now",
      ),
      h("a", { href: `#/alerts/${encodeURIComponent(rule.id)}/edit` }, "Edit"),
      h(
        "button",
        { type: "button", class: "danger small", "aria-label": `Delete rule ${rule.name}`, on: { click: async () => { if (await deleteRule(rule)) load(); } } },
        "Delete",
      ),
    );
  }

  await load();
}
