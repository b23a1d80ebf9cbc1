// Ingest health (#/ingest): events per second accepted, duplicate and rejected
// per meter and path over the last minute, rejections by field and rule with
// the latest examples, and the open streams with their ack latency
// (GET /v1/stats/ingest), refreshed every 3 seconds.

import { ApiError, api } from "../api.js";
import { empty, errorState, h, loading, notAvailable, replace, table } from "../dom.js";
import { formatAgo, formatNumber, formatRate, formatTime, plural } from "../format.js";

const REFRESH_SECONDS = 3;

function ms(value) {
  return value === null || value === undefined ? "–" : `${formatNumber(Math.round(value * 10) / 10)} ms`;
}

function rejectionDetails(rejection) {
  return h(
    "details",
    {},
    h("summary", {}, `latest ${plural(rejection.latest.length, "example")}`),
    h(
      "ul",
      { class: "examples" },
      rejection.latest.map((example) =>
        h(
          "li",
          {},
          h("time", { datetime: example.at }, formatTime(example.at, undefined, { seconds: true })),
          " ",
          h("span", { class: "subject" }, example.subject),
          " ",
          h("code", {}, example.idempotency_key),
          h("br", {}),
          h("span", { class: "muted" }, example.message),
        ),
      ),
    ),
  );
}

export async function render(main, { setTitle }) {
  setTitle("Ingest health");
  const body = h("div", {}, loading("ingest health"));
  const stamp = h("p", { class: "muted refreshed", role: "status" });
  replace(main, h("h1", {}, "Ingest health"), h("p", { class: "lead" }, "What is arriving now, what is refused and why, and the open streams."), stamp, body);
  let timer = null;
  let stopped = false;
  // <details> the user opened stay open across refreshes.
  const open = new Set();

  async function load() {
    let stats;
    try {
      stats = await api("GET", "/v1/stats/ingest");
    } catch (error) {
      if (stopped) return;
      if (error instanceof ApiError && error.isMissingEndpoint) {
        replace(body, notAvailable("Ingest health"));
        stamp.textContent = "";
        return;
      }
      stamp.textContent = `Could not refresh: ${error.message}. Trying again in ${REFRESH_SECONDS} s.`;
      if (!body.querySelector("table")) replace(body, errorState(`Could not load ingest health: ${error.message}`));
      timer = setTimeout(load, REFRESH_SECONDS * 1000);
      return;
    }
    if (stopped) return;
    for (const details of body.querySelectorAll("details[data-key]")) {
      if (details.open) open.add(details.dataset.key);
      else open.delete(details.dataset.key);
    }
    const rejections = stats.rejections.map((r) => ({ ...r, key: `${r.meter}|${r.field}|${r.rule}` }));
    replace(
      body,
      h("h2", {}, `Rates over the last ${plural(stats.window_seconds, "second")}`),
      stats.rates.length
        ? table(
            [
              { label: "Meter", cell: (r) => r.meter },
              { label: "Path", cell: (r) => r.path },
              { label: "Accepted", cell: (r) => formatRate(r.accepted_per_second), numeric: true },
              { label: "Duplicates", cell: (r) => formatRate(r.duplicates_per_second), numeric: true },
              { label: "Rejected", cell: (r) => h("span", { class: r.rejected_per_second ? "rejected" : null }, formatRate(r.rejected_per_second)), numeric: true },
            ],
            stats.rates,
          )
        : empty("No events arrived in this window."),
      h("h2", {}, "Rejections"),
      rejections.length
        ? table(
            [
              { label: "Meter", cell: (r) => r.meter },
              { label: "Field", cell: (r) => h("code", {}, r.field) },
              { label: "Rule", cell: (r) => r.rule },
              { label: "Count", cell: (r) => formatNumber(r.count), numeric: true },
              {
                label: "Latest",
                cell: (r) => {
                  const details = rejectionDetails(r);
                  details.dataset.key = r.key;
                  details.open = open.has(r.key);
                  return details;
                },
              },
            ],
            rejections,
            { rowAttrs: (r) => ({ class: "rejection-row" }) },
          )
        : empty("No events were rejected."),
      h("h2", {}, "Open streams"),
      stats.streams.length
        ? table(
            [
              { label: "Stream", cell: (s) => h("code", {}, s.id) },
              { label: "Kind", cell: (s) => s.kind },
              { label: "Meters", cell: (s) => s.meters.join(", ") },
              { label: "Open since", cell: (s) => h("time", { datetime: s.opened_at, title: formatTime(s.opened_at) }, formatAgo(s.opened_at)) },
              { label: "Acknowledged", cell: (s) => formatNumber(s.events_acknowledged), numeric: true },
              { label: "Ack p50", cell: (s) => ms(s.ack_latency_ms_p50), numeric: true },
              { label: "Ack p99", cell: (s) => ms(s.ack_latency_ms_p99), numeric: true },
            ],
            stats.streams,
          )
        : empty("No streams are open."),
    );
    stamp.textContent = `Updated ${formatTime(new Date().toISOString(), undefined, { seconds: true })}; refreshed every ${REFRESH_SECONDS} s.`;
    timer = setTimeout(load, REFRESH_SECONDS * 1000);
  }

  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
