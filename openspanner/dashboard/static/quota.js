// What the plan and entitlement pages share: the words of the API's enums,
// the state badge and the progress bar of one limit.
//
// The API is the one place that computes states, windows and percentages;
// these helpers only draw what it answered.

import { ApiError } from "./api.js";
import { h } from "./dom.js";
import { formatNumber, formatTime } from "./format.js";

export const PERIODS = [
  ["day", "day"],
  ["week", "week"],
  ["month", "month"],
  ["year", "year"],
];
export const ENFORCEMENTS = [
  ["advisory", "advisory"],
  ["hard", "hard"],
];
export const FAILURE_POLICIES = [
  ["fail_open", "fail open"],
  ["fail_closed", "fail closed"],
];
export const STATES = ["ok", "warning", "exceeded", "no_plan", "not_in_plan"];

// A plan or entitlement route this server does not answer: no route (404) or
// one it knows but does not serve yet (501).
export function isUnserved(error) {
  return error instanceof ApiError && (error.isMissingEndpoint || error.status === 501);
}

export function stateBadge(state) {
  return h("span", { class: `badge state-${state || "unknown"}`, dataset: { state: state || "" } }, (state || "unknown").replace(/_/g, " "));
}

export function planHref(id) {
  return `#/plans/${encodeURIComponent(id)}`;
}

export function planLabel(plan) {
  return `${plan.name} v${plan.version}`;
}

// "1,000 per month, hard" for one limit.
export function limitSummary(limit) {
  return `${formatNumber(limit.limit)} per ${limit.period || "month"}, ${limit.enforcement || "advisory"}`;
}

// How full a limit's window is, 0 to 100 (past 100 the bar is full and marked).
function fill(item) {
  if (typeof item.percent === "number" && Number.isFinite(item.percent)) return item.percent;
  return item.limit > 0 ? (item.current / item.limit) * 100 : 0;
}

// One limit's bar: the share used, the warning threshold as a mark, and the
// state in words beside it (colour is never the only sign).
export function progressBar(item, { timeZone } = {}) {
  const percent = fill(item);
  const shown = Math.max(0, Math.min(percent, 100));
  const warning = Math.max(0, Math.min(item.warning_percent || 0, 100));
  const unit = item.aggregation === "count" ? "events" : item.unit || "";
  const bar = h(
    "div",
    {
      class: `quota-bar state-${item.state}`,
      role: "meter",
      "aria-valuemin": "0",
      "aria-valuemax": String(item.limit),
      "aria-valuenow": String(Math.min(item.current, item.limit)),
      "aria-label": `${item.meter}: ${formatNumber(item.current)} of ${formatNumber(item.limit)}`,
      dataset: { percent: String(percent) },
    },
    h("span", { class: `quota-fill w-${Math.round(shown)}` }),
    item.warning_percent ? h("span", { class: `quota-mark at-${Math.round(warning)}`, title: `warning at ${formatNumber(item.warning_percent)}%` }) : null,
  );
  return h(
    "section",
    { class: `card quota-card state-${item.state}`, dataset: { meter: item.meter, state: item.state } },
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h3", {}, item.meter), h("span", { class: "muted quota-period" }, `per ${item.period}`)),
      stateBadge(item.state),
    ),
    bar,
    h(
      "p",
      { class: "quota-numbers" },
      h("strong", { class: "quota-current" }, formatNumber(item.current)),
      ` of ${formatNumber(item.limit)}${unit ? ` ${unit}` : ""} (${formatNumber(Math.round(percent * 10) / 10)}%)`,
      item.overage > 0
        ? h("span", { class: "quota-overage" }, ` · ${formatNumber(item.overage)} over`)
        : ` · ${formatNumber(item.remaining)} left`,
      h("span", { class: "muted" }, ` · warning at ${formatNumber(item.warning_percent)}%`),
    ),
    h(
      "p",
      { class: "muted quota-window" },
      `Per ${item.period}: ${formatTime(item.from, timeZone)} to ${formatTime(item.to, timeZone)}; resets ${formatTime(item.period_reset_at || item.to, timeZone)}`,
    ),
  );
}
