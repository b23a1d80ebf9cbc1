// The events explorer of one meter (#/meters/<name>/events): raw events,
// newest first, from GET /v1/meters/{id}/events, with subject and dimension
// filters, cursor paging, each event's full record, and a live tail.
//
// The live tail asks for the newest page every 2 seconds and shows the events
// it has not shown yet at the top. Events are ordered by their own timestamp,
// so an event sent with a time older than the newest page's does not appear
// in the tail (it is in the listing, where its time puts it).

import { api, meterPath } from "../api.js";
import { startExport } from "./exports.js";
import { empty, errorState, field, h, loading, replace, uid } from "../dom.js";
import { browserTimeZone, formatNumber, formatTime, plural } from "../format.js";

const PAGE = 50;
const TAIL_SECONDS = 2;

function metadataChips(metadata) {
  const entries = Object.entries(metadata || {});
  if (!entries.length) return h("span", { class: "muted" }, "—");
  return h(
    "ul",
    { class: "chips" },
    entries.map(([k, v]) => h("li", { class: "chip" }, h("span", { class: "chip-name" }, k), `=${v}`)),
  );
}

export async function render(main, { params, query, setTitle, navigate }) {
  const name = params[0];
  setTitle(`${name} events`);
  replace(main, h("h1", {}, `Events of ${name}`), loading("the meter"));
  let meter;
  try {
    meter = await api("GET", meterPath(name));
  } catch (error) {
    replace(main, h("h1", {}, `Events of ${name}`), errorState(`Could not load meter ${name}: ${error.message}`));
    return;
  }
  const unit = meter.unit;
  let cursor = "";
  let seen = new Set();
  let timer = null;
  let sequence = 0;

  // --- filters ------------------------------------------------------------
  const subjectsId = uid("subjects");
  const subject = h("input", { type: "text", name: "subject", list: subjectsId, spellcheck: "false", value: query.get("subject") || "", placeholder: "all subjects" });
  const subjectList = h("datalist", { id: subjectsId });
  const dimension = h(
    "select",
    { name: "dimension" },
    h("option", { value: "" }, "any dimension"),
    meter.dimensions.map((d) => h("option", { value: d.name }, d.name)),
  );
  const valuesId = uid("values");
  const value = h("input", { type: "text", name: "value", list: valuesId, spellcheck: "false" });
  const valueList = h("datalist", { id: valuesId });

  async function suggest(list, fieldName) {
    replace(list);
    if (!fieldName) return;
    try {
      const answer = await api("GET", "/v1/usages/dimensions", { query: { meter: meter.name, field: fieldName, limit: 100 } });
      replace(list, answer.items.map((item) => h("option", { value: item.value })));
    } catch {
      // suggestions only
    }
  }
  dimension.addEventListener("change", () => suggest(valueList, dimension.value));
  suggest(subjectList, "subject");

  function listingQuery() {
    const q = { limit: PAGE };
    if (subject.value.trim()) q.subject = subject.value.trim();
    if (dimension.value && value.value !== "") q.filter = `${dimension.value}:${value.value}`;
    return q;
  }

  // --- the table ----------------------------------------------------------
  const tbody = h("tbody", {});
  const status = h("p", { class: "result-status", role: "status" });
  const listBox = h("div", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true, on: { click: () => loadPage(false) } }, "Load older events");

  function eventRows(event, arrived) {
    const detailId = uid("event");
    const toggle = h("button", { type: "button", class: "link small", "aria-expanded": "false", "aria-controls": detailId }, "Details");
    const row = h(
      "tr",
      { class: arrived ? "event-row arrived" : "event-row", dataset: { eventId: event.id } },
      h("td", {}, h("time", { datetime: event.timestamp }, formatTime(event.timestamp, undefined, { seconds: true }))),
      h("td", { class: "subject" }, event.subject),
      h("td", { class: "num" }, formatNumber(event.quantity), unit ? h("span", { class: "muted" }, ` ${unit}`) : null),
      h("td", { class: "key" }, event.idempotency_key),
      h("td", {}, metadataChips(event.metadata)),
      h("td", {}, toggle),
    );
    const detail = h(
      "tr",
      { class: "event-detail", id: detailId, hidden: true },
      h(
        "td",
        { colspan: "6" },
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Received"),
          h("dd", {}, formatTime(event.received_at, undefined, { seconds: true })),
          h("dt", {}, "Event id"),
          h("dd", {}, event.id),
        ),
        h("pre", { class: "record" }, JSON.stringify(event, null, 2)),
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

  const eventsTable = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "events" },
      h("caption", {}, `Events of ${meter.name}, newest first`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [
            `Time (${browserTimeZone()})`,
            "Subject",
            meter.unit ? `Quantity (${meter.unit})` : "Quantity",
            "Idempotency key",
            "Dimensions",
            "",
          ].map((label) => h("th", { scope: "col" }, label)),
        ),
      ),
      tbody,
    ),
  );

  async function loadPage(first) {
    const mine = first ? ++sequence : sequence;
    if (first) {
      cursor = "";
      seen = new Set();
      replace(tbody);
      replace(listBox, loading("events"));
    }
    more.disabled = true;
    let page;
    try {
      page = await api("GET", meterPath(meter.name, "/events"), { query: { ...listingQuery(), cursor } });
    } catch (error) {
      if (mine !== sequence) return;
      replace(listBox, errorState(`Could not load events: ${error.message}`, () => loadPage(true)));
      return;
    }
    if (mine !== sequence) return;
    for (const event of page.items) {
      if (seen.has(event.id)) continue;
      seen.add(event.id);
      tbody.append(...eventRows(event, false));
    }
    cursor = page.next_cursor || "";
    more.hidden = !cursor;
    more.disabled = false;
    if (!seen.size) {
      replace(listBox, empty("No events match. Events appear here once they are recorded on this meter."));
    } else {
      replace(listBox, eventsTable);
    }
    status.textContent = `${plural(seen.size, "event")} shown${cursor ? "; older ones below" : ""}`;
  }

  // --- live tail ----------------------------------------------------------
  const tailButton = h("button", { type: "button", class: "secondary", "aria-pressed": "false" }, "Start live tail");
  const tailStatus = h("p", { class: "tail-status", role: "status" }, "Live tail is off.");

  async function poll() {
    const mine = sequence;
    try {
      const page = await api("GET", meterPath(meter.name, "/events"), { query: listingQuery() });
      if (mine !== sequence || !timer) return;
      const fresh = page.items.filter((event) => !seen.has(event.id));
      // Oldest of the new ones first, so the newest ends up on top.
      for (const event of fresh.reverse()) {
        seen.add(event.id);
        tbody.prepend(...eventRows(event, true));
      }
      if (fresh.length) replace(listBox, eventsTable);
      tailStatus.textContent = `Live: checking every ${TAIL_SECONDS} s; last check ${formatTime(new Date().toISOString(), undefined, { seconds: true })}, ${plural(fresh.length, "new event")}.`;
      status.textContent = `${plural(seen.size, "event")} shown`;
    } catch (error) {
      tailStatus.textContent = `Live tail could not check for events: ${error.message}. Trying again in ${TAIL_SECONDS} s.`;
    }
  }

  function setTail(on) {
    clearInterval(timer);
    timer = on ? setInterval(poll, TAIL_SECONDS * 1000) : null;
    tailButton.textContent = on ? "Pause live tail" : "Resume live tail";
    tailButton.setAttribute("aria-pressed", String(on));
    tailButton.classList.toggle("live", on);
    if (on) {
      tailStatus.textContent = `Live: checking every ${TAIL_SECONDS} s.`;
      poll();
    } else {
      tailStatus.textContent = "Live tail paused.";
    }
  }
  tailButton.addEventListener("click", () => setTail(!timer));

  // Every event of this filter, as a background export (#/exports).
  const exportFormat = h("select", { name: "export-format", "aria-label": "Export format" },
    h("option", { value: "csv" }, "CSV"), h("option", { value: "jsonl" }, "JSON Lines"));
  const exportButton = h("button", { type: "button", class: "secondary" }, "Export these events");
  exportButton.addEventListener("click", () => {
    const listing = listingQuery();
    const exportQuery = { meter: meter.name };
    if (listing.subject) exportQuery.subject = listing.subject;
    if (listing.filter) exportQuery.filter = [listing.filter];
    startExport({ kind: "events", format: exportFormat.value, query: exportQuery }, navigate);
  });

  const form = h(
    "form",
    { class: "card explorer-controls", novalidate: true, on: { submit: (e) => { e.preventDefault(); loadPage(true); } } },
    h(
      "div",
      { class: "control-grid" },
      field("Subject", subject),
      subjectList,
      field("Dimension", dimension),
      field("Value", value, { hint: "Events whose dimension has this value; null: events without it." }),
      valueList,
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show events"), tailButton, exportFormat, exportButton),
  );

  replace(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, `Events of ${meter.name}`),
      h(
        "div",
        { class: "row-actions" },
        h("a", { href: `#/meters/${encodeURIComponent(meter.name)}/usage` }, "Usage"),
        h("a", { href: "#/meters" }, "All meters"),
      ),
    ),
    h("p", { class: "lead" }, "Raw events as stored, newest first. Select Details for an event's full record."),
    form,
    tailStatus,
    status,
    listBox,
    more,
  );
  await loadPage(true);
  return () => {
    sequence += 1;
    clearInterval(timer);
    timer = null;
  };
}
