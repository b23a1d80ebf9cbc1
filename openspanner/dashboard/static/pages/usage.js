// The usage explorer of one meter (#/meters/<name>/usage): the meter's
// aggregate per bucket from POST /v1/usages/search, as a chart and as a table
// of the same rows, and a CSV of exactly those rows.
//
// The CSV is written here from the rows shown rather than asked of
// /v1/usages/export, because a second query could already count events that
// arrived in between: the file then would not be what the table shows.

import { ApiError, api, meterPath } from "../api.js";
import { startExport } from "./exports.js";
import { drawChart, groupLabel, seriesOf } from "../chart.js";
import { download, empty, errorState, field, h, loading, replace, setFieldError, table, uid } from "../dom.js";
import {
  BUCKET_SECONDS,
  aggregateUnit,
  aggregationLabel,
  browserTimeZone,
  formatNumber,
  formatTime,
  instantToZoned,
  isTimeZone,
  isoSeconds,
  plural,
  timeZones,
  withUnit,
  zonedToInstant,
} from "../format.js";

const HOUR = 3600 * 1000;
const PRESETS = [
  { id: "1h", label: "Last hour", span: HOUR, bucket: "minute" },
  { id: "24h", label: "Last 24 hours", span: 24 * HOUR, bucket: "hour" },
  { id: "7d", label: "Last 7 days", span: 7 * 24 * HOUR, bucket: "hour" },
  { id: "30d", label: "Last 30 days", span: 30 * 24 * HOUR, bucket: "day" },
  { id: "custom", label: "Custom range" },
];
const BUCKETS = ["minute", "hour", "day", "month"];
// The most buckets one search answers; the page says when it was reached.
const LIMIT = 1000;

// One CSV cell: quoted when it holds a comma, quote or line break.
function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvOf(rows, groupNames) {
  const header = ["bucket_start", "bucket_end", ...groupNames, "quantity", "unit", "aggregation", "events"];
  const lines = [header, ...rows.map((r) => [
    r.bucket_start,
    r.bucket_end,
    ...groupNames.map((name) => r.group[name]),
    r.quantity,
    r.unit,
    r.aggregation,
    r.events,
  ])];
  return lines.map((cells) => cells.map(csvCell).join(",")).join("\n") + "\n";
}

// A filter value typed as the dimension declares it: number dimensions compare as numbers.
function typedValue(dimension, text) {
  if (dimension?.type === "number" && text.trim() !== "" && !Number.isNaN(Number(text))) return Number(text);
  if (dimension?.type === "boolean" && (text === "true" || text === "false")) return text === "true";
  return text;
}

// Value suggestions for a datalist, from GET /v1/usages/dimensions.
async function suggest(datalist, meter, fieldName) {
  try {
    const answer = await api("GET", "/v1/usages/dimensions", { query: { meter, field: fieldName, limit: 100 } });
    replace(datalist, answer.items.map((item) => h("option", { value: item.value }, `${plural(item.events, "event")}`)));
  } catch {
    replace(datalist); // suggestions are a help, not a need
  }
}

export async function render(main, { params, query, setTitle, navigate }) {
  const name = params[0];
  setTitle(`${name} usage`);
  replace(main, h("h1", {}, `Usage of ${name}`), loading("the meter"));
  let meter;
  try {
    meter = await api("GET", meterPath(name));
  } catch (error) {
    replace(main, h("h1", {}, `Usage of ${name}`), errorState(`Could not load meter ${name}: ${error.message}`));
    return;
  }
  const unit = aggregateUnit(meter);
  const dimensionsByName = new Map(meter.dimensions.map((d) => [d.name, d]));
  let stopChart = null;
  let sequence = 0;

  // --- controls ---------------------------------------------------------
  const preset = h("select", { name: "range" }, PRESETS.map((p) => h("option", { value: p.id, selected: p.id === "24h" }, p.label)));
  const from = h("input", { type: "datetime-local", name: "from" });
  const to = h("input", { type: "datetime-local", name: "to" });
  const custom = h("div", { class: "custom-range", hidden: true }, field("From", from), field("To", to));
  const bucket = h("select", { name: "bucket_size" }, BUCKETS.map((b) => h("option", { value: b, selected: b === "hour" }, b)));
  const zonesId = uid("zones");
  const timeZone = h("input", { type: "text", name: "time_zone", list: zonesId, value: browserTimeZone(), spellcheck: "false" });
  const zones = h("datalist", { id: zonesId }, timeZones().map((z) => h("option", { value: z })));
  const subjectsId = uid("subjects");
  const subject = h("input", { type: "text", name: "subject", list: subjectsId, value: query.get("subject") || "", spellcheck: "false", placeholder: "all subjects" });
  const subjectList = h("datalist", { id: subjectsId });
  const groupBoxes = ["subject", ...meter.dimensions.map((d) => d.name)].map((dim) => {
    const id = uid("group");
    const box = h("input", { type: "checkbox", id, value: dim, dataset: { group: dim } });
    return { dim, box, node: h("div", { class: "field-check" }, box, h("label", { for: id }, dim)) };
  });
  const filterRows = h("div", { class: "filter-rows" });
  const addFilter = h("button", { type: "button", class: "secondary small", on: { click: () => addFilterRow() } }, "Add filter");
  if (!meter.dimensions.length) addFilter.hidden = true;
  const controls = { time_zone: timeZone, bucket_size: bucket, from, to, subject };

  function addFilterRow() {
    const listId = uid("values");
    const values = h("datalist", { id: listId });
    const dimension = h("select", { dataset: { filter: "dimension" } }, meter.dimensions.map((d) => h("option", { value: d.name }, d.name)));
    const value = h("input", { type: "text", list: listId, spellcheck: "false", dataset: { filter: "value" } });
    const row = h(
      "div",
      { class: "filter-row" },
      field("Dimension", dimension),
      field("equals", value),
      values,
      h("button", { type: "button", class: "secondary small", on: { click: () => { row.remove(); run(); } } }, "Remove"),
    );
    dimension.addEventListener("change", () => suggest(values, meter.name, dimension.value));
    suggest(values, meter.name, dimension.value);
    filterRows.append(row);
    value.focus();
  }

  function presetOf() {
    return PRESETS.find((p) => p.id === preset.value);
  }

  preset.addEventListener("change", () => {
    const chosen = presetOf();
    custom.hidden = chosen.id !== "custom";
    if (chosen.id === "custom") {
      // Start the custom range from what was shown, in the chosen zone.
      const zone = isTimeZone(timeZone.value) ? timeZone.value : "UTC";
      const end = new Date();
      if (!to.value) to.value = instantToZoned(end, zone);
      if (!from.value) from.value = instantToZoned(new Date(end.getTime() - 24 * HOUR), zone);
      from.focus();
    } else {
      bucket.value = chosen.bucket;
    }
  });

  // --- the query ----------------------------------------------------------
  function requestBody() {
    const zone = timeZone.value.trim();
    const chosen = presetOf();
    let start;
    let end;
    if (chosen.id === "custom") {
      start = zonedToInstant(from.value, zone);
      end = zonedToInstant(to.value, zone);
    } else {
      end = new Date(Math.ceil(Date.now() / 60000) * 60000);
      start = new Date(end.getTime() - chosen.span);
    }
    // Rows on one dimension mean any of their values (`in`); different dimensions must all match.
    const wanted = new Map();
    for (const row of filterRows.children) {
      const dimension = row.querySelector("[data-filter=dimension]").value;
      const value = row.querySelector("[data-filter=value]").value;
      if (value === "") continue;
      if (!wanted.has(dimension)) wanted.set(dimension, []);
      wanted.get(dimension).push(typedValue(dimensionsByName.get(dimension), value));
    }
    const rules = [...wanted].map(([dimension, values]) =>
      values.length === 1
        ? { type: "condition", field: `metadata.${dimension}`, op: "eq", value: values[0] }
        : { type: "condition", field: `metadata.${dimension}`, op: "in", value: values },
    );
    const body = {
      meter: meter.name,
      from: start ? isoSeconds(start) : "",
      to: end ? isoSeconds(end) : "",
      bucket_size: bucket.value,
      time_zone: zone,
      group_by: groupBoxes.filter((g) => g.box.checked).map((g) => g.dim),
      limit: LIMIT,
    };
    if (subject.value.trim()) body.subject = subject.value.trim();
    if (rules.length) body.filter = { type: "group", op: "and", rules };
    return body;
  }

  const status = h("p", { class: "result-status", role: "status" });
  const chartBox = h("div", { class: "chart-box" });
  const tableBox = h("div", {});
  const requestView = h("pre", { class: "request-body" });
  const csvButton = h("button", { type: "button", class: "secondary", disabled: true }, "Download CSV");
  let shown = null; // {rows, groupNames, body}: what the table shows, for the CSV

  // The search shown, as the product's export job (#/exports).
  const exportButton = h("button", { type: "button", class: "secondary", disabled: true }, "Export as a job");
  exportButton.addEventListener("click", () => {
    if (shown) startExport({ kind: "usage_buckets", format: "csv", query: shown.body }, navigate);
  });

  csvButton.addEventListener("click", () => {
    if (!shown) return;
    download(`${meter.name}-usage.csv`, csvOf(shown.rows, shown.groupNames));
  });

  function clearErrors() {
    for (const control of main.querySelectorAll("[aria-invalid]")) setFieldError(control, null);
  }

  async function run() {
    clearErrors();
    const zone = timeZone.value.trim();
    if (zone && !isTimeZone(zone)) {
      setFieldError(timeZone, `${zone} is not a time zone this browser knows (IANA names, e.g. Europe/Berlin)`);
      return;
    }
    if (presetOf().id === "custom" && (!from.value || !to.value)) {
      setFieldError(from.value ? to : from, "Enter a date and time.");
      return;
    }
    const body = requestBody();
    requestView.textContent = JSON.stringify(body, null, 2);
    const mine = ++sequence;
    status.textContent = "Loading usage…";
    status.dataset.state = "loading";
    let rows;
    try {
      rows = await api("POST", "/v1/usages/search", { body });
    } catch (error) {
      if (mine !== sequence) return;
      status.dataset.state = "error";
      let control = error instanceof ApiError ? controls[error.field] : null;
      // A preset sets from and to itself: their errors belong beside it.
      if ((error.field === "from" || error.field === "to") && presetOf().id !== "custom") control = preset;
      if (control && setFieldError(control, error.fieldMessage)) {
        status.textContent = "The query was refused; see the field marked.";
      } else {
        status.textContent = "";
        replace(tableBox, errorState(`Could not load usage: ${error.message}`, run));
      }
      return;
    }
    if (mine !== sequence) return; // a newer query is on its way
    show(rows, body);
  }

  function show(rows, body) {
    if (stopChart) stopChart();
    stopChart = null;
    const groupNames = body.group_by;
    rows.sort((a, b) => a.bucket_start.localeCompare(b.bucket_start) || groupLabel(a.group, "").localeCompare(groupLabel(b.group, "")));
    shown = { rows, groupNames, body };
    csvButton.disabled = rows.length === 0;
    exportButton.disabled = false;
    status.dataset.state = "shown";
    if (!rows.length) {
      status.textContent = "";
      replace(chartBox);
      replace(tableBox, empty("No usage in this range. Widen the range or remove filters."));
      return;
    }
    const events = rows.reduce((sum, r) => sum + r.events, 0);
    const additive = ["sum", "count"].includes(meter.aggregation);
    const total = rows.reduce((sum, r) => sum + (r.quantity ?? 0), 0);
    status.textContent = [
      plural(rows.length, "bucket"),
      plural(events, "event"),
      additive ? `${withUnit(total, unit)} in total` : null,
      rows.length >= LIMIT ? `only the first ${LIMIT} buckets are shown: narrow the range or use a larger bucket` : null,
    ].filter(Boolean).join(" · ");
    replace(chartBox);
    stopChart = drawChart(chartBox, seriesOf(rows, meter.name), {
      timeZone: body.time_zone,
      unit,
      range: [Date.parse(body.from) / 1000, Date.parse(body.to) / 1000],
      bucketSeconds: BUCKET_SECONDS[body.bucket_size],
    });
    replace(
      tableBox,
      table(
        [
          { label: `Bucket start (${body.time_zone || "UTC"})`, cell: (r) => h("time", { datetime: r.bucket_start }, formatTime(r.bucket_start, body.time_zone)) },
          ...groupNames.map((g) => ({ label: g, cell: (r) => r.group[g] ?? "" })),
          {
            label: `${aggregationLabel(meter)} (${unit || "quantity"})`,
            numeric: true,
            cell: (r) => h("span", { dataset: { value: r.quantity ?? "" } }, formatNumber(r.quantity)),
          },
          { label: "Events", numeric: true, cell: (r) => formatNumber(r.events) },
        ],
        rows,
        {
          caption: `Usage of ${meter.name} per ${body.bucket_size}`,
          rowAttrs: (r) => ({ class: "usage-row", dataset: { bucketStart: r.bucket_start } }),
        },
      ),
    );
  }

  const form = h(
    "form",
    { class: "card explorer-controls", novalidate: true, on: { submit: (e) => { e.preventDefault(); run(); } } },
    h(
      "div",
      { class: "control-grid" },
      field("Range", preset),
      custom,
      field("Bucket", bucket, { hint: "minute up to 1 day of range, hour up to 31 days, day up to 366." }),
      field("Time zone", timeZone, { hint: "Buckets start at midnight (or the hour) here." }),
      zones,
      field("Subject", subject),
      subjectList,
    ),
    h("fieldset", {}, h("legend", {}, "Group by"), h("div", { class: "group-by" }, groupBoxes.map((g) => g.node))),
    h("fieldset", { class: "filters" }, h("legend", {}, "Filters"), filterRows, addFilter),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show usage"), csvButton, exportButton),
  );
  // Any committed change runs the query again; text boxes commit on Enter or leaving them.
  form.addEventListener("change", (event) => {
    if (event.target === preset && preset.value === "custom") return;
    run();
  });

  replace(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, `Usage of ${meter.name}`),
      h(
        "div",
        { class: "row-actions" },
        h("a", { href: `#/meters/${encodeURIComponent(meter.name)}/events` }, "Events"),
        h("a", { href: "#/meters" }, "All meters"),
      ),
    ),
    h(
      "p",
      { class: "lead" },
      meter.description ? `${meter.description} · ` : "",
      meter.aggregation === "unique_count"
        ? `distinct values of ${meter.unique_dimension}, counted over each whole bucket (buckets do not add up)`
        : `${meter.aggregation} of ${meter.unit || "quantity"}`,
    ),
    form,
    status,
    chartBox,
    tableBox,
    h("details", { class: "request" }, h("summary", {}, "The API request behind this view"), h("p", {}, "POST /v1/usages/search with:"), requestView),
  );
  suggest(subjectList, meter.name, "subject");
  await run();
  return () => {
    sequence += 1;
    if (stopChart) stopChart();
  };
}
