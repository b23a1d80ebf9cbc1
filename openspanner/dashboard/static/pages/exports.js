// Exports (#/exports): export jobs with their progress, cancel, retry and
// download. A job is started from the usage explorer (its current search as
// a usage_buckets CSV) or from a meter's events page (its filter, every
// event, as CSV or JSON Lines); see startExport below. The list refreshes
// while a job is queued or running.

import { ApiError, api, storedKey } from "../api.js";
import { empty, errorState, h, loading, notAvailable, notify, replace, table } from "../dom.js";
import { formatNumber, formatTime, plural } from "../format.js";

const REFRESH_MS = 1000;

// Queue an export and go to this page, where it shows with its progress.
export async function startExport(body, navigate) {
  try {
    const job = await api("POST", "/v1/exports", { body });
    notify(`Export queued (${job.kind}, ${job.format}${job.gzip ? ".gz" : ""}).`);
    navigate(`#/exports?job=${encodeURIComponent(job.id)}`);
  } catch (error) {
    notify(`Could not start the export: ${error.message}`, "error");
  }
}

// The artifact needs the key, which a plain link cannot send: fetched, then saved from memory.
async function download(job) {
  const response = await fetch(new URL(`/v1/exports/${encodeURIComponent(job.id)}/download`, window.location.origin), {
    headers: { Authorization: `Bearer ${storedKey()}` },
    credentials: "omit",
    referrerPolicy: "no-referrer",
    cache: "no-store",
  });
  if (!response.ok) {
    notify(`Could not download the export (${response.status}).`, "error");
    return;
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const filename = (/filename="([^"]+)"/.exec(disposition) || [])[1] || `export-${job.id}`;
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function describeQuery(job) {
  const q = job.query || {};
  const parts = [q.meter];
  if (q.subject) parts.push(`subject ${[q.subject].flat().join(", ")}`);
  if (q.filter && Array.isArray(q.filter)) parts.push(q.filter.join(", "));
  else if (q.filter) parts.push("filtered");
  if (q.from || q.start_time) parts.push(`from ${formatTime(q.from || q.start_time)}`);
  if (q.to || q.end_time) parts.push(`to ${formatTime(q.to || q.end_time)}`);
  return parts.filter(Boolean).join(" · ");
}

export async function render(main, { query, setTitle }) {
  setTitle("Exports");
  const highlighted = query.get("job");
  const list = h("div", {}, loading("exports"));
  let timer = null;
  let stopped = false;

  async function act(job, action) {
    try {
      await api("POST", `/v1/exports/${encodeURIComponent(job.id)}/${action}`);
      notify(action === "cancel" ? "Export canceled." : "Export queued again.");
    } catch (error) {
      notify(`Could not ${action} the export: ${error.message}`, "error");
    }
    load();
  }

  function actions(job) {
    const buttons = [];
    if (job.download_url) {
      buttons.push(h("button", { type: "button", class: "primary small", on: { click: () => download(job) } }, "Download"));
    }
    if (job.status === "queued" || job.status === "running") {
      buttons.push(h("button", { type: "button", class: "secondary small", on: { click: () => act(job, "cancel") } }, "Cancel"));
    }
    if (job.status === "failed" || job.status === "canceled") {
      buttons.push(h("button", { type: "button", class: "secondary small", on: { click: () => act(job, "retry") } }, "Retry"));
    }
    return h("div", { class: "row-actions" }, buttons);
  }

  async function load() {
    clearTimeout(timer);
    let answer;
    try {
      answer = await api("GET", "/v1/exports", { query: { limit: 100 } });
    } catch (error) {
      if (error instanceof ApiError && error.isMissingEndpoint) replace(list, notAvailable("Export jobs"));
      else replace(list, errorState(`Could not load the exports: ${error.message}`, load));
      return;
    }
    if (stopped) return;
    if (!answer.items.length) {
      replace(list, empty("No exports yet. Start one from a meter's usage explorer or its events page."));
      return;
    }
    replace(
      list,
      h("p", { class: "muted" }, plural(answer.items.length, "export")),
      table(
        [
          { label: "Created", cell: (j) => formatTime(j.created_at) },
          { label: "Kind", cell: (j) => `${j.kind} (${j.format}${j.gzip ? ".gz" : ""})` },
          { label: "Query", cell: (j) => describeQuery(j) },
          { label: "Status", cell: (j) => h("span", { class: `badge status-${j.status}` }, j.status) },
          { label: "Rows", cell: (j) => formatNumber(j.rows_written) },
          { label: "Size", cell: (j) => (j.artifact_size ? `${formatNumber(j.artifact_size)} bytes` : "—") },
          { label: "Note", cell: (j) => j.error || (j.expires_at ? `expires ${formatTime(j.expires_at)}` : "") },
          { label: "", cell: actions },
        ],
        answer.items,
        { rowAttrs: (j) => ({ dataset: { exportId: j.id, status: j.status }, class: j.id === highlighted ? "highlight" : null }) },
      ),
    );
    if (answer.items.some((j) => j.status === "queued" || j.status === "running")) {
      timer = setTimeout(load, REFRESH_MS);
    }
  }

  replace(
    main,
    h("h1", {}, "Exports"),
    h("p", { class: "lead" }, "Large exports written in the background: usage buckets as CSV, or every raw event as CSV or JSON Lines. Files are kept for a limited time."),
    list,
  );
  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
