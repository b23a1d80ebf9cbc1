// One alert rule (#/alerts/<id>): what it watches, its state per group,
// evaluate now, and its recent events with how each was delivered.

import { api } from "../api.js";
import { empty, h, loading, replace, table } from "../dom.js";
import { formatNumber, formatTime } from "../format.js";
import { deleteRule, evaluateNow, rulePath } from "./alerts.js";
import { comparatorSign, groupLabel, loadFailed, seconds, statusBadge, tabs } from "../alerting.js";

const RECENT_EVENTS = 50;

function facts(rule) {
  const filters = Object.entries(rule.metadata || {}).map(([k, v]) => `${k} = ${v}`);
  const rows = [
    ["Meter", h("a", { href: `#/meters/${encodeURIComponent(rule.meter)}/usage` }, rule.meter)],
    ["Subject", rule.subject || h("span", { class: "muted" }, "every subject")],
    ["Filters", filters.length ? filters.join(", ") : h("span", { class: "muted" }, "none")],
    ["Condition", `value ${comparatorSign(rule.comparator)} ${formatNumber(rule.threshold)} (${rule.comparator})`],
    ["Window", `${seconds(rule.window_seconds)} (${formatNumber(rule.window_seconds)} s), rolling`],
    ["Evaluated every", seconds(rule.evaluation_interval_seconds)],
    ["Grouped by", rule.group_by || h("span", { class: "muted" }, "no grouping: one state")],
    ["Destination", rule.destination ? `${rule.destination.name} (${rule.destination.webhook_url})` : (rule.destination_id || "—")],
    ["Enabled", rule.enabled ? "yes" : "no: never evaluated on schedule"],
    ["Next evaluation", rule.enabled ? formatTime(rule.next_evaluate_at, undefined, { seconds: true }) : "—"],
    ["Changed", formatTime(rule.updated_at, undefined, { seconds: true })],
  ];
  return h("dl", { class: "facts" }, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function statesTable(rule) {
  const states = rule.states || [];
  if (!states.length) return empty("Not evaluated yet.");
  return table(
    [
      { label: "Group", cell: (s) => groupLabel(s) },
      { label: "State", cell: (s) => statusBadge(s.status) },
      { label: "Value", numeric: true, cell: (s) => formatNumber(s.value) },
      { label: "Message", cell: (s) => s.message || "" },
      { label: "Evaluated", cell: (s) => formatTime(s.evaluated_at, undefined, { seconds: true }) },
      { label: "Since", cell: (s) => formatTime(s.updated_at, undefined, { seconds: true }) },
    ],
    states,
    { caption: "State per group", rowAttrs: (s) => ({ class: "state-row", dataset: { group: s.group_value ?? "", status: s.status } }) },
  );
}

function delivery(event) {
  const attempt = event.delivery;
  if (!attempt) {
    return event.type === "evaluation_failed" ? h("span", { class: "muted" }, "not delivered") : h("span", { class: "muted" }, "no attempt yet");
  }
  return h(
    "span",
    {},
    statusBadge(attempt.status),
    attempt.status_code ? ` HTTP ${attempt.status_code} ` : " ",
    // The delivery job: `job_id` where the server names it apart from the attempt's own id.
    h("a", { href: `#/deliveries/${encodeURIComponent(attempt.job_id ?? attempt.id)}` }, "log"),
  );
}

function eventsTable(events) {
  if (!events.length) return empty("No events yet: one is sent when a group starts or stops alerting.");
  return table(
    [
      { label: "When", cell: (e) => formatTime(e.created_at, undefined, { seconds: true }) },
      { label: "Event", cell: (e) => statusBadge(e.type) },
      { label: "Group", cell: (e) => groupLabel(e) },
      { label: "Value", numeric: true, cell: (e) => formatNumber(e.value) },
      { label: "Message", cell: (e) => e.message },
      { label: "Latest delivery", cell: (e) => delivery(e) },
    ],
    events,
    { caption: `The ${RECENT_EVENTS} latest events, newest first`, rowAttrs: (e) => ({ class: "event-row", dataset: { type: e.type, group: e.group_value ?? "" } }) },
  );
}

export async function render(main, { params, session, navigate, setTitle }) {
  const id = params[0];
  setTitle("Alert rule");
  replace(main, tabs("rules"), h("h1", {}, "Alert rule"), loading("the rule"));
  let rule;
  try {
    rule = await api("GET", rulePath(id));
  } catch (error) {
    replace(main, tabs("rules"), h("h1", {}, "Alert rule"), loadFailed(error, "The alert rule", () => navigate(`#/alerts/${encodeURIComponent(id)}`)));
    return;
  }
  setTitle(rule.name);
  const heading = h("h1", {}, rule.name);
  const overall = h("span", { class: "rule-state" });
  const about = h("div", {});
  const states = h("section", { class: "rule-states" });
  const events = h("section", { class: "rule-events" }, loading("events"));
  // What the latest "Evaluate now" of this page found, kept on the page (notices go away).
  const evaluated = h("p", { class: "evaluation-result muted", role: "status", dataset: { count: 0 } });
  let evaluations = 0;

  function show(current) {
    rule = current;
    replace(overall, current.enabled ? statusBadge(current.state?.status) : h("span", { class: "badge" }, "disabled"));
    replace(about, facts(current));
    replace(states, statesTable(current));
  }

  async function loadEvents() {
    try {
      const answer = await api("GET", "/v1/alerts/events", { query: { rule_id: rule.id, limit: RECENT_EVENTS } });
      replace(events, eventsTable(answer.items));
    } catch (error) {
      replace(events, loadFailed(error, "Alert events", loadEvents));
    }
  }

  async function onEvaluate(event) {
    const button = event.currentTarget;
    button.disabled = true;
    const result = await evaluateNow(rule);
    button.disabled = false;
    if (result) {
      show(result.rule);
      await loadEvents();
      evaluations += 1;
      const made = (result.events || []).map((e) => `${e.type} (${groupLabel(e)})`);
      evaluated.textContent = `Evaluated now: ${result.state.status.replace("_", " ")}; ` +
        (made.length ? `new events: ${made.join(", ")}.` : "no new event.");
      evaluated.dataset.count = String(evaluations);
    }
  }

  async function onDelete() {
    if (await deleteRule(rule)) navigate("#/alerts");
  }

  show(rule);
  replace(
    main,
    tabs("rules"),
    h(
      "div",
      { class: "page-head" },
      h("div", { class: "title-with-state" }, heading, overall),
      session.canWrite
        ? h(
            "div",
            { class: "row-actions" },
            h("button", { type: "button", class: "primary", on: { click: onEvaluate } }, "Evaluate now"),
            h("a", { class: "button secondary", href: `#/alerts/${encodeURIComponent(rule.id)}/edit` }, "Edit"),
            h("button", { type: "button", class: "danger", on: { click: onDelete } }, "Delete"),
          )
        : null,
    ),
    evaluated,
    h("div", { class: "card" }, about),
    h("h2", {}, "State per group"),
    states,
    h("h2", {}, "Recent events"),
    events,
  );
  await loadEvents();
}
