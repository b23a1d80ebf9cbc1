// Numbers, units and times as people read them, and the time-zone arithmetic
// the usage explorer needs (the browser has no "this wall time in that zone").

const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 6 });
const compactFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

export function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  return numberFormat.format(value);
}

// What a meter's aggregate is counted in: a count is events whatever the unit,
// a rate is the unit per second.
export function aggregateUnit(meter) {
  if (!meter) return "";
  if (meter.aggregation === "count") return "events";
  if (meter.aggregation === "rate") return `${meter.unit || "units"}/s`;
  if (meter.aggregation === "unique_count") return meter.unit || `distinct ${meter.unique_dimension}`;
  return meter.unit || "";
}

// The aggregation as the meter list and usage pages name it: a distinct count
// says which dimension it counts ("unique_count of user").
export function aggregationLabel(meter) {
  if (!meter) return "";
  if (meter.aggregation === "unique_count") return `unique_count of ${meter.unique_dimension}`;
  return meter.aggregation;
}

// "1,842 token" (no guessing at plurals: units are free text, "GB", "ms"...).
export function withUnit(value, unit) {
  const number = formatNumber(value);
  return unit && value !== null && value !== undefined ? `${number} ${unit}` : number;
}

export function formatRate(value) {
  return `${compactFormat.format(value ?? 0)}/s`;
}

const timeFormats = new Map();
function timeFormat(timeZone, withSeconds) {
  const key = `${timeZone}|${withSeconds}`;
  if (!timeFormats.has(key)) {
    timeFormats.set(
      key,
      new Intl.DateTimeFormat("en-CA", {
        timeZone: timeZone || undefined,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        second: withSeconds ? "2-digit" : undefined,
        hourCycle: "h23",
      }),
    );
  }
  return timeFormats.get(key);
}

// "2026-06-01 14:05" in `timeZone` (the browser's own when not given).
export function formatTime(iso, timeZone, { seconds = false } = {}) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return timeFormat(timeZone, seconds).format(date).replace(",", "");
}

// "3 minutes ago", for the latest event of a meter.
export function formatAgo(iso, now = Date.now()) {
  if (!iso) return "never";
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (seconds < 0) return "in the future";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

export function browserTimeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

export function timeZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}

export function isTimeZone(name) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

// How far `timeZone` is ahead of UTC at the instant `ms`, in milliseconds.
function zoneOffset(timeZone, ms) {
  const parts = {};
  for (const part of timeFormat(timeZone, true).formatToParts(new Date(ms))) parts[part.type] = part.value;
  const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return wall - Math.floor(ms / 1000) * 1000;
}

// The instant at which clocks in `timeZone` show the wall time `local`
// ("2026-06-01T00:00", as a datetime-local input gives it). Two passes find the
// offset in force at that instant, daylight saving changes included.
export function zonedToInstant(local, timeZone) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local || "");
  if (!match) return null;
  const [, y, mo, d, hh, mm, ss] = match;
  const wall = Date.UTC(+y, +mo - 1, +d, +hh, +mm, +(ss || 0));
  let instant = wall - zoneOffset(timeZone, wall);
  instant = wall - zoneOffset(timeZone, instant);
  return new Date(instant);
}

// The wall time of `date` in `timeZone`, in the form of a datetime-local input.
export function instantToZoned(date, timeZone) {
  const parts = {};
  for (const part of timeFormat(timeZone, false).formatToParts(date)) parts[part.type] = part.value;
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

// RFC 3339 in UTC without milliseconds, as the API's examples write times.
export function isoSeconds(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

// About how long a bucket is, for sizing chart bars (a day or month in a zone varies a little).
export const BUCKET_SECONDS = { minute: 60, hour: 3600, day: 86400, month: 30 * 86400 };

export function plural(count, one, many = `${one}s`) {
  return `${formatNumber(count)} ${count === 1 ? one : many}`;
}
