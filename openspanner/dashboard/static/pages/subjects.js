// Subjects (#/subjects): who used what over a period, per meter
// (GET /v1/subjects), and a box to open any subject's page directly.

import { ApiError, api } from "../api.js";
import { empty, errorState, field, h, loading, notAvailable, replace, table } from "../dom.js";
import { isoSeconds, plural, withUnit } from "../format.js";

const DAY = 24 * 3600 * 1000;
export const PERIODS = [
  { id: "24h", label: "Last 24 hours", span: DAY, bucket: "hour" },
  { id: "7d", label: "Last 7 days", span: 7 * DAY, bucket: "day" },
  { id: "30d", label: "Last 30 days", span: 30 * DAY, bucket: "day" },
];

export function periodRange(id) {
  const period = PERIODS.find((p) => p.id === id) || PERIODS[1];
  const end = new Date(Math.ceil(Date.now() / 60000) * 60000);
  return { period, from: isoSeconds(new Date(end.getTime() - period.span)), to: isoSeconds(end) };
}

export function subjectHref(subject) {
  return `#/subjects/${encodeURIComponent(subject)}`;
}

function usageList(usage) {
  if (!usage.length) return h("span", { class: "muted" }, "no usage");
  return h(
    "ul",
    { class: "usage-list" },
    usage.map((u) =>
      h(
        "li",
        {},
        h("span", { class: "chip-name" }, u.meter),
        " ",
        withUnit(u.quantity, u.aggregation === "count" ? "events" : u.unit),
        h("span", { class: "muted" }, ` (${plural(u.events, "event")})`),
      ),
    ),
  );
}

export async function render(main, { navigate, setTitle }) {
  setTitle("Subjects");
  const lookup = h("input", { type: "text", name: "subject", spellcheck: "false", autocomplete: "off" });
  const lookupForm = h(
    "form",
    {
      class: "inline-form",
      novalidate: true,
      on: {
        submit: (event) => {
          event.preventDefault();
          if (lookup.value.trim()) navigate(subjectHref(lookup.value.trim()));
        },
      },
    },
    field("Open a subject", lookup, { hint: "Its usage on every meter, over time." }),
    h("button", { type: "submit", class: "secondary" }, "Open"),
  );
  const period = h("select", { name: "period" }, PERIODS.map((p) => h("option", { value: p.id, selected: p.id === "7d" }, p.label)));
  const body = h("div", {});
  replace(
    main,
    h("h1", {}, "Subjects"),
    h("p", { class: "lead" }, "The customers, teams or devices usage is billed to, with what they used."),
    h("div", { class: "card controls-row" }, lookupForm, field("Period", period)),
    body,
  );

  let sequence = 0;
  async function load() {
    const mine = ++sequence;
    replace(body, loading("subjects"));
    const { from, to } = periodRange(period.value);
    let answer;
    try {
      answer = await api("GET", "/v1/subjects", { query: { from, to, limit: 500 } });
    } catch (error) {
      if (mine !== sequence) return;
      if (error instanceof ApiError && error.isMissingEndpoint) {
        replace(body, notAvailable("The list of subjects"), h("p", {}, "You can still open a subject by name above."));
      } else {
        replace(body, errorState(`Could not load subjects: ${error.message}`, load));
      }
      return;
    }
    if (mine !== sequence) return;
    if (!answer.items.length) {
      replace(body, empty("No subjects recorded usage in this period."));
      return;
    }
    replace(
      body,
      h("p", { class: "muted" }, plural(answer.items.length, "subject")),
      table(
        [
          { label: "Subject", cell: (s) => h("a", { href: subjectHref(s.subject) }, s.subject) },
          { label: "Usage", cell: (s) => usageList(s.usage) },
        ],
        answer.items,
      ),
    );
  }
  period.addEventListener("change", load);
  await load();
  return () => {
    sequence += 1;
  };
}
