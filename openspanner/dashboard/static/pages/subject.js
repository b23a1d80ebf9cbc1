// One subject (#/subjects/<subject>): its plan's progress per limit
// (subject_plan.js), then its usage on each meter over time, one
// POST /v1/usages/search with `subject` per meter. The usage works on any
// server: it needs only the meters and the search.

import { allPages, api } from "../api.js";
import { drawChart, seriesOf } from "../chart.js";
import { empty, errorState, field, h, loading, replace } from "../dom.js";
import { BUCKET_SECONDS, aggregateUnit, browserTimeZone, plural, withUnit } from "../format.js";
import { planSection } from "../subject_plan.js";
import { PERIODS, periodRange } from "./subjects.js";

// Searches at a time: a server with many meters is not asked everything at once.
const PARALLEL = 4;

export async function render(main, { params, session, setTitle }) {
  const subject = params[0];
  setTitle(`Subject ${subject}`);
  const period = h("select", { name: "period" }, PERIODS.map((p) => h("option", { value: p.id, selected: p.id === "7d" }, p.label)));
  const body = h("div", {}, loading("usage"));
  const plan = planSection(subject, { canWrite: session.canWrite });
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Subject ", h("span", { class: "subject-name" }, subject)), h("a", { href: "#/subjects" }, "All subjects")),
    plan.section,
    h("h2", {}, "Usage"),
    h("div", { class: "card controls-row" }, field("Period", period)),
    body,
  );
  const zone = browserTimeZone();
  let stops = [];
  let sequence = 0;

  function clearCharts() {
    for (const stop of stops) stop();
    stops = [];
  }

  async function load() {
    const mine = ++sequence;
    clearCharts();
    replace(body, loading("usage"));
    let meters;
    try {
      meters = await allPages("/v1/meters", { limit: 1000 });
    } catch (error) {
      replace(body, errorState(`Could not load the meters: ${error.message}`, load));
      return;
    }
    const { period: chosen, from, to } = periodRange(period.value);
    const results = new Array(meters.length);
    let next = 0;
    async function worker() {
      while (next < meters.length) {
        const i = next++;
        try {
          const rows = await api("POST", "/v1/usages/search", {
            body: { meter: meters[i].name, subject, from, to, bucket_size: chosen.bucket, time_zone: zone, limit: 1000 },
          });
          results[i] = { meter: meters[i], rows };
        } catch (error) {
          results[i] = { meter: meters[i], error };
        }
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    if (mine !== sequence) return;
    const used = results.filter((r) => r.error || r.rows.length);
    const unused = results.filter((r) => !r.error && !r.rows.length);
    replace(body);
    if (!used.length) {
      body.append(empty(`${subject} recorded no usage on any meter in this period.`));
      return;
    }
    for (const result of used) {
      const { meter } = result;
      const unit = aggregateUnit(meter);
      const card = h(
        "section",
        { class: "card meter-card", dataset: { meter: meter.name } },
        h(
          "div",
          { class: "page-head" },
          h("h2", {}, meter.name),
          h("a", { href: `#/meters/${encodeURIComponent(meter.name)}/usage?subject=${encodeURIComponent(subject)}` }, "Explore"),
        ),
      );
      body.append(card);
      if (result.error) {
        card.append(errorState(`Could not load usage: ${result.error.message}`));
        continue;
      }
      const events = result.rows.reduce((sum, r) => sum + r.events, 0);
      const total = result.rows.reduce((sum, r) => sum + (r.quantity ?? 0), 0);
      card.append(
        h(
          "p",
          { class: "muted" },
          // A count's total is its number of events, said once.
          meter.aggregation === "sum" ? `${withUnit(total, unit)} · ` : "",
          `${plural(events, "event")} · per ${chosen.bucket} (${zone})`,
        ),
      );
      stops.push(drawChart(card, seriesOf(result.rows, meter.name), {
        timeZone: zone,
        unit,
        height: 180,
        range: [Date.parse(from) / 1000, Date.parse(to) / 1000],
        bucketSeconds: BUCKET_SECONDS[chosen.bucket],
      }));
    }
    if (unused.length) {
      body.append(h("p", { class: "muted" }, `No usage on: ${unused.map((r) => r.meter.name).join(", ")}.`));
    }
  }

  period.addEventListener("change", load);
  await Promise.all([plan.load(), load()]);
  return () => {
    sequence += 1;
    clearCharts();
  };
}
