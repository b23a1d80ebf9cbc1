// Entitlement states (#/entitlements?subject=&meter=&state=): where each
// subject stands on each limited meter of its plan, as the server keeps it
// current while events arrive (GET /v1/entitlements/states).

import { allPages, api } from "../api.js";
import { empty, errorState, field, h, loading, notAvailable, replace } from "../dom.js";
import { formatNumber, formatTime, plural } from "../format.js";
import { STATES, isUnserved, planHref, stateBadge } from "../quota.js";
import { subjectHref } from "./subjects.js";

// The API answers at most this many states per call (it has no cursor).
const LIMIT = 200;

function options(values, any, chosen) {
  return [h("option", { value: "" }, any), values.map((v) => h("option", { value: v, selected: v === chosen }, v.replace(/_/g, " ")))];
}

export async function render(main, { query, setTitle }) {
  setTitle("Entitlement states");
  const subject = h("input", { type: "text", name: "subject", spellcheck: "false", value: query.get("subject") || "", placeholder: "all subjects" });
  const meter = h("select", { name: "meter" }, options([], "all meters"));
  const state = h("select", { name: "state" }, options(STATES.slice(0, 3), "any state", query.get("state") || ""));
  const status = h("p", { class: "result-status", role: "status" });
  const listBox = h("div", {}, loading("states"));
  let sequence = 0;

  function remember() {
    const params = new URLSearchParams();
    if (subject.value.trim()) params.set("subject", subject.value.trim());
    if (meter.value) params.set("meter", meter.value);
    if (state.value) params.set("state", state.value);
    const hash = `#/entitlements${params.toString() ? `?${params}` : ""}`;
    if (window.location.hash !== hash) history.replaceState(null, "", hash);
  }

  async function load() {
    const mine = ++sequence;
    replace(listBox, loading("states"));
    remember();
    let answer;
    try {
      answer = await api("GET", "/v1/entitlements/states", {
        query: { subject: subject.value.trim(), meter: meter.value, state: state.value, limit: LIMIT },
      });
    } catch (error) {
      if (mine !== sequence) return;
      replace(listBox, isUnserved(error) ? notAvailable("Entitlement states") : errorState(`Could not load the states: ${error.message}`, load));
      status.textContent = "";
      return;
    }
    if (mine !== sequence) return;
    const items = answer.items || [];
    status.textContent = `${plural(items.length, "state")}${items.length >= LIMIT ? ` (the first ${LIMIT}: narrow the filters to see others)` : ""}`;
    if (!items.length) {
      replace(listBox, empty("No states match. A subject has a state per limited meter once usage arrives under a plan."));
      return;
    }
    replace(
      listBox,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "states" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Subject", "Meter", "Plan", "Period", "State"].map((label) => h("th", { scope: "col" }, label)),
              ["Current", "Limit", "Remaining", "Warning at"].map((label) => h("th", { scope: "col", class: "num" }, label)),
              ["Message", "Evaluated"].map((label) => h("th", { scope: "col" }, label)),
            ),
          ),
          h(
            "tbody",
            {},
            items.map((s) =>
              h(
                "tr",
                { class: "state-row", dataset: { subject: s.subject, meter: s.meter, state: s.state } },
                h("td", { class: "subject" }, h("a", { href: subjectHref(s.subject) }, s.subject)),
                h("td", {}, s.meter),
                h("td", {}, s.plan_id ? h("a", { href: planHref(s.plan_id) }, s.plan_name || s.plan_id) : "—"),
                h("td", {}, s.period || "—"),
                h("td", {}, stateBadge(s.state)),
                h("td", { class: "num", dataset: { field: "current" } }, formatNumber(s.current)),
                h("td", { class: "num", dataset: { field: "limit" } }, formatNumber(s.limit)),
                h("td", { class: "num", dataset: { field: "remaining" } }, formatNumber(s.remaining)),
                h("td", { class: "num" }, `${formatNumber(s.warning_percent)}%`),
                h("td", {}, s.message || ""),
                h("td", {}, formatTime(s.evaluated_at, undefined, { seconds: true })),
              ),
            ),
          ),
        ),
      ),
    );
  }

  async function fillMeters() {
    try {
      const meters = await allPages("/v1/meters", { limit: 1000 });
      const chosen = query.get("meter") || "";
      const names = meters.map((m) => m.name);
      if (chosen && !names.includes(chosen)) names.unshift(chosen);
      replace(meter, options(names, "all meters", chosen));
    } catch {
      // the list of meters only
    }
  }

  const form = h(
    "form",
    { class: "card explorer-controls state-filters", novalidate: true, on: { submit: (e) => { e.preventDefault(); load(); } } },
    h("div", { class: "control-grid" }, field("Subject", subject), field("Meter", meter), field("State", state)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show states")),
  );
  for (const control of [meter, state]) control.addEventListener("change", load);

  replace(
    main,
    h("h1", {}, "Entitlement states"),
    h("p", { class: "lead" }, "Where each subject stands on each limited meter of its plan in the current window: ok, warning or exceeded."),
    form,
    status,
    listBox,
  );
  await fillMeters();
  await load();
  return () => {
    sequence += 1;
  };
}
