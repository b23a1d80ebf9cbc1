// Pieces shared by the alerting pages (alert rules, destinations, deliveries):
// their tabs, status badges, and how a rule's condition reads.

import { ApiError } from "./api.js";
import { errorState, h, notAvailable } from "./dom.js";
import { formatNumber } from "./format.js";

const TABS = [
  { id: "rules", label: "Alert rules", href: "#/alerts" },
  { id: "destinations", label: "Destinations", href: "#/destinations" },
  { id: "deliveries", label: "Deliveries", href: "#/deliveries" },
];

// The three pages are one area of the dashboard: one entry in the top bar, tabs here.
export function tabs(active) {
  return h(
    "nav",
    { class: "subnav", "aria-label": "Alerting" },
    h(
      "ul",
      {},
      TABS.map((tab) =>
        h("li", {}, h("a", { href: tab.href, "aria-current": tab.id === active ? "page" : null }, tab.label)),
      ),
    ),
  );
}

// A rule state (ok, alerting, no_data, error), a job status (pending, running,
// delivered, dead_letter), an attempt's outcome or an event type, as a badge.
export function statusBadge(status) {
  const text = status ? status.replace("_", " ") : "not evaluated";
  return h("span", { class: `badge status status-${status || "none"}`, dataset: { status: status || "" } }, text);
}

const COMPARATORS = { gt: ">", gte: "≥", lt: "<", lte: "≤", eq: "=", neq: "≠" };

export function comparatorSign(comparator) {
  return COMPARATORS[comparator] || comparator;
}

// 3600 -> "1 h", 90 -> "90 s": windows and intervals as people say them.
export function seconds(value) {
  if (value % 86400 === 0) return `${value / 86400} d`;
  if (value % 3600 === 0) return `${value / 3600} h`;
  if (value % 60 === 0) return `${value / 60} min`;
  return `${value} s`;
}

// "value ≥ 1,000 over 1 h"
export function condition(rule) {
  return `value ${comparatorSign(rule.comparator)} ${formatNumber(rule.threshold)} over ${seconds(rule.window_seconds)}`;
}

// "region = eu", or "all events" for a rule without groups.
export function groupLabel(state) {
  return state.group_key ? `${state.group_key} = ${state.group_value ?? ""}` : "all events";
}

// What a failed load shows: the routes missing on an older server, or the error.
export function loadFailed(error, what, retry) {
  if (error instanceof ApiError && error.isMissingEndpoint) return notAvailable(what);
  return errorState(`Could not load ${what.toLowerCase()}: ${error.message}`, retry);
}

// A secret shown once, with a copy button (the clipboard where the page may
// use it, otherwise the text selected for copying by hand).
export function secretRow(label, value) {
  const input = h("input", { type: "text", readonly: true, value, class: "secret", spellcheck: "false", "aria-label": label });
  const copy = h("button", { type: "button", class: "primary" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(input.value);
      copy.textContent = "Copied";
    } catch {
      input.focus();
      input.select();
      copy.textContent = "Selected: press Ctrl+C";
    }
  });
  return h("div", { class: "secret-field" }, h("p", { class: "secret-label" }, label), h("div", { class: "secret-row" }, input, copy));
}
