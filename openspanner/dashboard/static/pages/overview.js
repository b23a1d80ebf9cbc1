// The overview: per meter, events accepted, duplicate and rejected over the
// last hour and day and the latest event's time; events stored and streams
// open (GET /v1/stats/overview). Refreshed every 5 seconds while shown.

import { ApiError, allPages, api } from "../api.js";
import { empty, errorState, h, loading, notAvailable, replace, table } from "../dom.js";
import { formatAgo, formatNumber, formatTime, plural } from "../format.js";

const REFRESH_SECONDS = 5;

function counts(window) {
  const w = window || {};
  return h(
    "span",
    { class: "counts" },
    h("span", { class: "accepted", title: "accepted" }, formatNumber(w.accepted ?? 0)),
    " / ",
    h("span", { class: w.duplicates ? "duplicates" : "muted", title: "duplicates" }, formatNumber(w.duplicates ?? 0)),
    " / ",
    h("span", { class: w.rejected ? "rejected" : "muted", title: "rejected" }, formatNumber(w.rejected ?? 0)),
  );
}

function tile(label, value, note) {
  return h("div", { class: "tile" }, h("p", { class: "tile-label" }, label), h("p", { class: "tile-value" }, value), note ? h("p", { class: "muted" }, note) : null);
}

export async function render(main, { setTitle }) {
  setTitle("Overview");
  const body = h("div", {}, loading("the overview"));
  replace(main, h("h1", {}, "Overview"), body);
  let timer = null;
  let stopped = false;

  // Without the stats endpoint the page still lists the meters, so it is a
  // useful start page on any server.
  async function meterLinks() {
    try {
      const meters = await allPages("/v1/meters", { limit: 1000 });
      if (!meters.length) return empty("No meters yet.");
      return h(
        "ul",
        { class: "link-list" },
        meters.map((m) =>
          h(
            "li",
            {},
            h("a", { href: `#/meters/${encodeURIComponent(m.name)}/usage` }, m.name),
            m.description ? h("span", { class: "muted" }, ` ${m.description}`) : null,
            " · ",
            h("a", { href: `#/meters/${encodeURIComponent(m.name)}/events` }, "events"),
          ),
        ),
      );
    } catch (error) {
      return errorState(`Could not load the meters: ${error.message}`);
    }
  }

  async function load() {
    let stats;
    try {
      stats = await api("GET", "/v1/stats/overview");
    } catch (error) {
      if (stopped) return;
      if (error instanceof ApiError && error.isMissingEndpoint) {
        replace(body, notAvailable("The usage overview"), h("h2", {}, "Meters"), await meterLinks());
        return; // nothing to refresh
      }
      replace(body, errorState(`Could not load the overview: ${error.message}`, load));
      return;
    }
    if (stopped) return;
    replace(
      body,
      h(
        "div",
        { class: "tiles" },
        tile("Events stored", formatNumber(stats.stored_events)),
        tile("Open streams", formatNumber(stats.open_streams)),
        tile("Meters", formatNumber(stats.meters.length)),
        tile("Server up since", formatTime(stats.started_at), formatAgo(stats.started_at)),
      ),
      h("h2", {}, "Per meter"),
      h("p", { class: "muted" }, "Events accepted / duplicates / rejected."),
      stats.meters.length
        ? table(
            [
              { label: "Meter", cell: (m) => h("a", { href: `#/meters/${encodeURIComponent(m.meter)}/usage` }, m.meter) },
              { label: "Last hour", cell: (m) => counts(m.last_hour), numeric: true },
              { label: "Last day", cell: (m) => counts(m.last_day), numeric: true },
              { label: "Stored events", cell: (m) => formatNumber(m.stored_events), numeric: true },
              {
                label: "Latest event",
                cell: (m) => (m.latest_event_at ? h("time", { datetime: m.latest_event_at, title: formatTime(m.latest_event_at) }, formatAgo(m.latest_event_at)) : h("span", { class: "muted" }, "none yet")),
              },
              { label: "", cell: (m) => h("a", { href: `#/meters/${encodeURIComponent(m.meter)}/events` }, "Events") },
            ],
            stats.meters,
          )
        : empty("No meters yet."),
      h("p", { class: "muted refreshed" }, `Refreshed every ${plural(REFRESH_SECONDS, "second")}.`),
    );
    timer = setTimeout(load, REFRESH_SECONDS * 1000);
  }

  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
