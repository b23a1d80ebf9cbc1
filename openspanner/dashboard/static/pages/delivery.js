// One delivery (#/deliveries/<id>): its state and its log, one row per
// attempt (outcome, HTTP status, error, duration); a dead letter retried by hand.

import { api } from "../api.js";
import { empty, h, loading, replace, table } from "../dom.js";
import { formatNumber, formatTime } from "../format.js";
import { isSettled, jobPath, retryJob } from "./deliveries.js";
import { loadFailed, statusBadge, tabs } from "../alerting.js";

const REFRESH_MS = 2000;

function facts(job, destinationName) {
  const rows = [
    ["Status", statusBadge(job.status)],
    ["webhook-id", h("code", {}, job.id)],
    ["Event", `${job.event_kind} `, h("code", {}, job.event_id)],
    ["Destination", destinationName || h("code", {}, job.destination_id)],
    ["Attempts", formatNumber(job.attempts)],
    ["Next attempt", job.next_attempt_at ? formatTime(job.next_attempt_at, undefined, { seconds: true }) : "—"],
    ["Stored", formatTime(job.created_at, undefined, { seconds: true })],
    ["Changed", formatTime(job.updated_at, undefined, { seconds: true })],
  ];
  return h("dl", { class: "facts" }, rows.map(([term, ...value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function log(attempts) {
  if (!attempts.length) return empty("No attempt has finished yet.");
  return table(
    [
      { label: "Attempt", numeric: true, cell: (a) => a.attempt },
      { label: "Outcome", cell: (a) => statusBadge(a.status) },
      { label: "HTTP status", numeric: true, cell: (a) => a.status_code ?? "—" },
      { label: "Error", cell: (a) => (a.error ? h("span", { class: "error-text" }, a.error) : "—") },
      { label: "Duration", numeric: true, cell: (a) => `${formatNumber(a.duration_ms)} ms` },
      { label: "Attempted", cell: (a) => formatTime(a.attempted_at, undefined, { seconds: true }) },
    ],
    attempts,
    { caption: "Delivery log, one row per attempt", rowAttrs: (a) => ({ class: "attempt-row", dataset: { attempt: a.attempt, status: a.status } }) },
  );
}

export async function render(main, { params, session, setTitle }) {
  const id = params[0];
  setTitle("Delivery");
  const heading = h("h1", {}, "Delivery");
  const body = h("div", {}, loading("the delivery"));
  replace(main, tabs("deliveries"), heading, body);
  let destinationName = null;
  let timer = null;
  let left = false;

  async function load() {
    clearTimeout(timer);
    let job;
    try {
      job = await api("GET", jobPath(id));
    } catch (error) {
      replace(body, loadFailed(error, "The delivery", load));
      return;
    }
    if (left) return;
    if (destinationName === null) {
      destinationName = await api("GET", `/v1/alerts/destinations/${encodeURIComponent(job.destination_id)}`)
        .then((d) => d.name)
        .catch(() => "");
    }
    const retry = session.canWrite && job.status === "dead_letter"
      ? h("button", { type: "button", class: "primary", on: { click: async () => { if (await retryJob(job)) load(); } } }, "Retry delivery")
      : null;
    replace(
      body,
      h("div", { class: "card" }, facts(job, destinationName), retry ? h("div", { class: "actions" }, retry) : null),
      h("h2", {}, "Delivery log"),
      log(job.deliveries || []),
      job.last_error && !isSettled(job) ? h("p", { class: "muted" }, "The next attempt comes after the backoff.") : null,
    );
    if (!isSettled(job)) timer = setTimeout(load, REFRESH_MS);
  }

  await load();
  return () => {
    left = true;
    clearTimeout(timer);
  };
}
