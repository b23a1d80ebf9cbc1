// Consumption decisions (#/decisions?subject=&meter=&outcome=): what each
// consume was answered, newest first, from GET /v1/entitlements/decisions with
// its filters and cursor; each decision's quota (the check behind it) in the
// row, its full record under Details.

import { allPages, api } from "../api.js";
import { empty, errorState, field, h, loading, notAvailable, replace, uid } from "../dom.js";
import { browserTimeZone, formatNumber, formatTime, plural } from "../format.js";
import { STATES, isUnserved, stateBadge } from "../quota.js";
import { subjectHref } from "./subjects.js";

const PAGE = 50;
const COLUMNS = 12;

function options(values, any, chosen) {
  return [h("option", { value: "" }, any), values.map(([v, label]) => h("option", { value: v, selected: v === chosen }, label))];
}

function outcome(decision) {
  const word = decision.accepted ? "accepted" : "rejected";
  return h("span", { class: `outcome-${word}` }, word);
}

function flags(decision) {
  const quota = decision.quota || {};
  return [
    decision.evaluation_failed ? h("span", { class: "chip-flag" }, "evaluation failed") : null,
    quota.enforcement ? h("span", { class: "muted" }, quota.enforcement) : null,
  ];
}

export async function render(main, { query, setTitle }) {
  setTitle("Decisions");
  const subject = h("input", { type: "text", name: "subject", spellcheck: "false", value: query.get("subject") || "", placeholder: "all subjects" });
  const meter = h("select", { name: "meter" }, options([], "all meters"));
  const result = h("select", { name: "outcome" }, options([["accepted", "accepted"], ["rejected", "rejected"]], "all", query.get("outcome") || ""));
  const state = h("select", { name: "state" }, options(STATES.map((s) => [s, s.replace(/_/g, " ")]), "any state", query.get("state") || ""));
  const enforcement = h("select", { name: "enforcement" }, options([["advisory", "advisory"], ["hard", "hard"]], "any", query.get("enforcement") || ""));

  const tbody = h("tbody", {});
  const status = h("p", { class: "result-status", role: "status" });
  const listBox = h("div", {}, loading("decisions"));
  const more = h("button", { type: "button", class: "secondary more", hidden: true, on: { click: () => loadPage(false) } }, "Load older decisions");
  let cursor = "";
  let shown = 0;
  let sequence = 0;

  function listingQuery() {
    return {
      limit: PAGE,
      subject: subject.value.trim(),
      meter: meter.value,
      outcome: result.value || "all",
      state: state.value,
      enforcement: enforcement.value,
    };
  }

  // The filters in the address, so a filtered view can be shared and reloaded.
  function remember() {
    const q = listingQuery();
    const params = new URLSearchParams();
    for (const name of ["subject", "meter", "state", "enforcement"]) if (q[name]) params.set(name, q[name]);
    if (q.outcome !== "all") params.set("outcome", q.outcome);
    const hash = `#/decisions${params.toString() ? `?${params}` : ""}`;
    if (window.location.hash !== hash) history.replaceState(null, "", hash);
  }

  function decisionRows(decision) {
    const quota = decision.quota || {};
    const detailId = uid("decision");
    const toggle = h("button", { type: "button", class: "link small", "aria-expanded": "false", "aria-controls": detailId }, "Details");
    const row = h(
      "tr",
      { class: "decision-row", dataset: { key: decision.idempotency_key, accepted: String(decision.accepted) } },
      h("td", {}, h("time", { datetime: decision.created_at }, formatTime(decision.created_at, undefined, { seconds: true }))),
      h("td", { class: "subject" }, quota.subject ? h("a", { href: subjectHref(quota.subject) }, quota.subject) : "—"),
      h("td", {}, quota.meter || "—"),
      h("td", {}, outcome(decision), " ", flags(decision)),
      h("td", {}, stateBadge(quota.state)),
      ["quantity", "current", "projected", "limit", "remaining", "overage"].map((name) =>
        h("td", { class: "num", dataset: { field: name } }, formatNumber(quota[name])),
      ),
      h("td", {}, toggle),
    );
    const detail = h(
      "tr",
      { class: "decision-detail", id: detailId, hidden: true },
      h(
        "td",
        { colspan: String(COLUMNS) },
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Idempotency key"),
          h("dd", { class: "key" }, decision.idempotency_key),
          h("dt", {}, "Message"),
          h("dd", {}, quota.message || "—"),
          h("dt", {}, "Plan"),
          h("dd", {}, quota.plan_name ? `${quota.plan_name} (${quota.period}, ${formatTime(quota.from)} to ${formatTime(quota.to)})` : "—"),
          h("dt", {}, "Event"),
          h("dd", {}, decision.event_id || "none recorded"),
        ),
        h("pre", { class: "record" }, JSON.stringify(decision, null, 2)),
      ),
    );
    toggle.addEventListener("click", () => {
      const open = detail.hidden;
      detail.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? "Hide" : "Details";
    });
    return [row, detail];
  }

  const decisionsTable = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "decisions" },
      h("caption", {}, "Decisions, newest first; the numbers are the quota each was decided on"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [`Time (${browserTimeZone()})`, "Subject", "Meter", "Outcome", "State"].map((label) => h("th", { scope: "col" }, label)),
          ["Quantity", "Current", "Projected", "Limit", "Remaining", "Overage"].map((label) => h("th", { scope: "col", class: "num" }, label)),
          h("th", { scope: "col" }, ""),
        ),
      ),
      tbody,
    ),
  );

  async function loadPage(first) {
    const mine = first ? ++sequence : sequence;
    if (first) {
      cursor = "";
      shown = 0;
      replace(tbody);
      replace(listBox, loading("decisions"));
      remember();
    }
    more.disabled = true;
    let page;
    try {
      page = await api("GET", "/v1/entitlements/decisions", { query: { ...listingQuery(), cursor } });
    } catch (error) {
      if (mine !== sequence) return;
      replace(listBox, isUnserved(error) ? notAvailable("Consumption decisions") : errorState(`Could not load decisions: ${error.message}`, () => loadPage(true)));
      more.hidden = true;
      status.textContent = "";
      return;
    }
    if (mine !== sequence) return;
    for (const decision of page.items || []) tbody.append(...decisionRows(decision));
    shown += (page.items || []).length;
    cursor = page.next_cursor || "";
    more.hidden = !cursor;
    more.disabled = false;
    replace(listBox, shown ? decisionsTable : empty("No decisions match. A decision is stored for each consume (POST /v1/entitlements/consume)."));
    status.textContent = `${plural(shown, "decision")} shown${cursor ? "; older ones below" : ""}`;
  }

  // Meter choices are a convenience: without them the filter still takes any name.
  async function fillMeters() {
    try {
      const meters = await allPages("/v1/meters", { limit: 1000 });
      const chosen = query.get("meter") || "";
      const names = meters.map((m) => m.name);
      if (chosen && !names.includes(chosen)) names.unshift(chosen);
      replace(meter, options(names.map((n) => [n, n]), "all meters", chosen));
    } catch {
      // the list of meters only
    }
  }

  const form = h(
    "form",
    { class: "card explorer-controls decision-filters", novalidate: true, on: { submit: (e) => { e.preventDefault(); loadPage(true); } } },
    h(
      "div",
      { class: "control-grid" },
      field("Subject", subject),
      field("Meter", meter),
      field("Outcome", result),
      field("State", state),
      field("Enforcement", enforcement),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show decisions")),
  );
  for (const control of [meter, result, state, enforcement]) control.addEventListener("change", () => loadPage(true));

  replace(
    main,
    h("h1", {}, "Decisions"),
    h("p", { class: "lead" }, "Every consume's answer: accepted or refused, and the quota it was decided on. A replayed key answers its first decision again, so it is listed once."),
    form,
    status,
    listBox,
    more,
  );
  await fillMeters();
  await loadPage(true);
  return () => {
    sequence += 1;
  };
}
