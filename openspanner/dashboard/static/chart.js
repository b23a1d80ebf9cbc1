// Time-series charts on uPlot (vendored: vendor/uplot, pinned in vendor.json).
//
// A chart draws the buckets of POST /v1/usages/search, one line per group.
// The table below each chart holds the same numbers for reading and for
// screen readers, so the chart itself is marked as an image with a summary.

import uPlot from "./vendor/uplot/uPlot.esm.js";
import { h } from "./dom.js";
import { formatNumber } from "./format.js";

const COLOURS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];

// A group's label: "model=gpt-4.1, region=eu", or the meter's name ungrouped.
export function groupLabel(group, fallback) {
  const parts = Object.entries(group || {}).map(([name, value]) => `${name}=${value}`);
  return parts.length ? parts.join(", ") : fallback;
}

// {x: [seconds...], series: [{label, values: [...]}]} from bucket rows.
export function seriesOf(rows, fallbackLabel) {
  const times = [...new Set(rows.map((r) => Date.parse(r.bucket_start) / 1000))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const groups = new Map();
  for (const row of rows) {
    const label = groupLabel(row.group, fallbackLabel);
    if (!groups.has(label)) groups.set(label, new Array(times.length).fill(null));
    groups.get(label)[index.get(Date.parse(row.bucket_start) / 1000)] = row.quantity;
  }
  return { x: times, series: [...groups].map(([label, values]) => ({ label, values })) };
}

// Draw into `container`; answers a function that removes the chart.
// `range` ([from, to] in seconds) keeps the time axis to the range asked for,
// so a few buckets are shown where they fall in it. One series is drawn as
// bars from each bucket's start; several as lines, which stay readable overlaid.
// `bucketSeconds` sizes the bars as the buckets they stand for (uPlot would
// size them by the gaps between the buckets that have usage).
export function drawChart(container, { x, series }, { timeZone, unit, range, bucketSeconds, height = 280 }) {
  const wrap = h("div", {
    class: "chart",
    role: "img",
    "aria-label": `Chart of ${series.length} series over ${x.length} buckets; the table below has the numbers.`,
  });
  container.append(wrap);
  const width = () => Math.max(280, wrap.clientWidth || container.clientWidth || 600);
  let barSize = [0.8, 40, 1];
  if (range && bucketSeconds) {
    const px = ((width() - 90) * bucketSeconds) / Math.max(1, range[1] - range[0]);
    barSize = [0.8, Math.max(2, px * 0.85), Math.max(2, Math.min(px * 0.85, 40))];
  }
  const options = {
    width: width(),
    height,
    // Axis labels in the zone the buckets were aligned in, not the browser's.
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), timeZone || "UTC"),
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: range ? { time: true, range: () => [Math.min(range[0], x[0] ?? range[0]), range[1]] } : { time: true },
      y: { range: (_, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      {},
      {
        label: unit || undefined,
        size: 70,
        values: (_, ticks) => ticks.map((v) => formatNumber(v)),
      },
    ],
    series: [
      { label: "Time" },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: COLOURS[i % COLOURS.length],
        width: 2,
        ...(series.length === 1
          ? { fill: `${COLOURS[0]}33`, paths: uPlot.paths.bars({ size: barSize, align: 1 }), points: { show: false } }
          : { points: { show: true, size: 8 } }),
        spanGaps: false,
        value: (_, v) => (v === null || v === undefined ? "–" : `${formatNumber(v)}${unit ? ` ${unit}` : ""}`),
      })),
    ],
  };
  const plot = new uPlot(options, [x, ...series.map((s) => s.values)], wrap);
  const observer = new ResizeObserver(() => {
    const next = width();
    if (Math.abs(next - plot.width) > 2) plot.setSize({ width: next, height });
  });
  observer.observe(container);
  return () => {
    observer.disconnect();
    plot.destroy();
    wrap.remove();
  };
}
