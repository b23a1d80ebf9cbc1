// Deliveries (#/deliveries): the durable delivery jobs with their status,
// filtered by status and destination; a dead letter retried by hand. One job
// with its log per attempt is delivery.js.

import { api } from "../api.js";
import { empty, field, h, loading, notify, replace, table } from "../dom.js";
import { formatTime, plural } from "../format.js";
import { loadFailed, statusBadge, tabs } from "../alerting.js";

const STATUSES = [
  ["", "every status"],
  ["pending", "pending"],
  ["running", "running"],
  ["delivered", "delivered"],
  ["dead_letter", "dead letter"],
];
// While a listed job may still change (pending, running), the list refreshes itself.
const REFRESH_MS = 3000;

export function jobPath(id, rest = "") {
  return `/v1/alerts/delivery-jobs/${encodeURIComponent(id)}${rest}`;
}

// Requeue a dead letter; answers the job as it is now, or null (said in a notice).
export async function retryJob(job) {
  try {
    const requeued = await api("POST", jobPath(job.id, "/retry"));
    notify(`Delivery ${job.id} requeued: it is attempted again now.`);
    return requeued;
  } catch (error) {
    notify(`Could not retry delivery ${job.id}: ${error.message}`, "error");
    return null;
  }
}

export function isSettled(job) {
  return job.status === "delivered" || job.status === "dead_letter";
}

export async function render(main, { query, session, setTitle }) {
  setTitle("Deliveries");
  const status = h("select", { name: "status" }, STATUSES.map(([v, label]) => h("option", { value: v, selected: v === (query.get("status") || "") }, label)));
  const destination = h("select", { name: "destination_id" }, h("option", { value: "" }, "every destination"));
  const list = h("div", {}, loading("deliveries"));
  let names = new Map();
  let timer = null;
  let left = false;

  async function loadDestinations() {
    try {
      const items = (await api("GET", "/v1/alerts/destinations", { query: { limit: 1000 } })).items;
      names = new Map(items.map((d) => [d.id, d.name]));
    } catch {
      names = new Map(); // the jobs still show their destination's id
    }
    const wanted = query.get("destination_id") || "";
    replace(
      destination,
      h("option", { value: "" }, "every destination"),
      [...names].map(([id, name]) => h("option", { value: id, selected: id === wanted }, name)),
    );
    if (wanted && !names.has(wanted)) destination.append(h("option", { value: wanted, selected: true }, wanted));
  }

  async function load() {
    clearTimeout(timer);
    let items;
    try {
      items = (await api("GET", "/v1/alerts/delivery-jobs", { query: { status: status.value, destination_id: destination.value, limit: 200 } })).items;
    } catch (error) {
      replace(list, loadFailed(error, "Deliveries", load));
      return;
    }
    if (left) return;
    if (!items.length) replace(list, empty("No deliveries match. Each alert event (and each test event) becomes one."));
    else {
      replace(
        list,
        h("p", { class: "muted" }, `${plural(items.length, "delivery", "deliveries")}, newest first`),
        table(
          [
            { label: "Delivery (webhook-id)", cell: (j) => h("a", { href: `#/deliveries/${encodeURIComponent(j.id)}` }, h("code", {}, j.id)) },
            { label: "Event", cell: (j) => j.event_kind },
            { label: "Destination", cell: (j) => names.get(j.destination_id) || h("code", {}, j.destination_id) },
            { label: "Status", cell: (j) => statusBadge(j.status) },
            { label: "Attempts", numeric: true, cell: (j) => j.attempts },
            { label: "Last HTTP status", numeric: true, cell: (j) => j.last_status_code ?? "—" },
            { label: "Last error", cell: (j) => (j.last_error ? h("span", { class: "error-text" }, j.last_error) : "—") },
            { label: "Next attempt", cell: (j) => (j.next_attempt_at ? formatTime(j.next_attempt_at, undefined, { seconds: true }) : "—") },
            { label: "Changed", cell: (j) => formatTime(j.updated_at, undefined, { seconds: true }) },
            { label: "", cell: (j) => actions(j) },
          ],
          items,
          { rowAttrs: (j) => ({ class: "job-row", dataset: { job: j.id, status: j.status } }) },
        ),
      );
    }
    if (items.some((job) => !isSettled(job))) timer = setTimeout(load, REFRESH_MS);
  }

  function actions(job) {
    if (!session.canWrite || job.status !== "dead_letter") return null;
    return h(
      "button",
      { type: "button", class: "secondary small", "aria-label": `Retry delivery ${job.id}`, on: { click: async () => { if (await retryJob(job)) load(); } } },
      "Retry",
    );
  }

  status.addEventListener("change", load);
  destination.addEventListener("change", load);
  replace(
    main,
    tabs("deliveries"),
    h("div", { class: "page-head" }, h("h1", {}, "Deliveries"), h("button", { type: "button", class: "secondary", on: { click: load } }, "Refresh")),
    h(
      "p",
      { class: "lead" },
      "One delivery per event and destination, stored before its first attempt. A failed attempt is retried with " +
        "backoff; after the last allowed attempt the delivery is a dead letter until retried by hand.",
    ),
    h("div", { class: "card controls-row" }, field("Status", status), field("Destination", destination)),
    list,
  );
  await loadDestinations();
  await load();
  return () => {
    left = true;
    clearTimeout(timer);
  };
}
