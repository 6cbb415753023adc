/**
 * SVG line charts of per-epoch metrics: one polyline and one circle per epoch for each series,
 * axes with ticks and labels, and a legend. The output is an inline `<svg>` element.
 */
import { escapeHtml } from './escape.js';

export interface ChartSeries {
  /** History key, written to each point's data-series attribute (`loss`, `val_loss`, ...). */
  key: string;
  /** Legend text. */
  label: string;
  /** One value per epoch. NaN and infinite values get no point and break the line. */
  values: readonly number[];
  /** CSS colour of the line and its points. */
  colour: string;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** X value of each point: the 1-based epoch numbers, the same length as every series. */
  epochs: readonly number[];
  series: readonly ChartSeries[];
}

/** Size of the SVG and margins around the plot area, in CSS pixels. */
export const CHART_LAYOUT = { width: 480, height: 300, left: 60, right: 20, top: 52, bottom: 48 } as const;

/** Number of y-axis intervals that niceTicks aims for, and most x-axis ticks drawn. */
const TARGET_Y_TICKS = 5;
const MAX_X_TICKS = 10;

export interface ChartPoint {
  key: string;
  epoch: number;
  value: number;
  x: number;
  y: number;
}

export interface ChartGeometry {
  /** [min, max] of the x axis in epochs. */
  xDomain: [number, number];
  /** [min, max] of the y axis after rounding out to whole ticks. */
  yDomain: [number, number];
  yTicks: number[];
  xTicks: number[];
  /** The points with finite values, series by series in epoch order. */
  points: ChartPoint[];
}

/** Returns a function that maps [d0, d1] linearly onto [r0, r1]. */
export function linearScale(domain: readonly [number, number], range: readonly [number, number]): (value: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  return (value) => r0 + ((value - d0) / (d1 - d0)) * (r1 - r0);
}

/** Decimal places that print every multiple of `step` exactly (0 for steps of 1 and up). */
function decimalsOf(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/**
 * Returns evenly spaced tick values whose step is 1, 2 or 5 times a power of ten, starting at
 * or below `min` and ending at or above `max`, with about `target` intervals.
 */
export function niceTicks(min: number, max: number, target = TARGET_Y_TICKS): number[] {
  let low = min;
  let high = max;
  if (low === high) {
    // A flat series gets a band around its value, so it is drawn mid-height.
    const pad = low === 0 ? 1 : Math.abs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const rough = (high - low) / target;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  // The tolerance keeps rounding in `rough` ((0.55 - 0.45) / 5 = 0.020000000000000007) from skipping a step.
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough * (1 - 1e-9)) as number;
  const first = Math.floor(low / step + 1e-9);
  const last = Math.ceil(high / step - 1e-9);
  const decimals = decimalsOf(step);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return ticks;
}

/** Returns every k-th epoch with k chosen so that at most MAX_X_TICKS ticks remain. */
function epochTicks(epochs: readonly number[]): number[] {
  const every = Math.ceil(epochs.length / MAX_X_TICKS);
  return epochs.filter((_, i) => i % every === 0);
}

/** X domain: the epoch range, widened by half an epoch on both sides when there is one epoch. */
function xDomainOf(epochs: readonly number[]): [number, number] {
  if (epochs.length === 0) return [0, 1];
  const first = epochs[0];
  const last = epochs[epochs.length - 1];
  return first === last ? [first - 0.5, last + 0.5] : [first, last];
}

/**
 * Computes the axes and the pixel position of every finite point of `spec` in CHART_LAYOUT.
 * Throws a RangeError when a series has another length than `spec.epochs`.
 */
export function chartGeometry(spec: LineChartSpec): ChartGeometry {
  for (const series of spec.series) {
    if (series.values.length !== spec.epochs.length) {
      throw new RangeError(`chart "${spec.title}": series ${series.key} has ${series.values.length} values but there are ${spec.epochs.length} epochs; give one value per epoch.`);
    }
  }
  const finite = spec.series.flatMap((series) => series.values.filter((v) => Number.isFinite(v)));
  const yTicks = finite.length === 0 ? [0, 0.5, 1] : niceTicks(Math.min(...finite), Math.max(...finite));
  const yDomain: [number, number] = [yTicks[0], yTicks[yTicks.length - 1]];
  const { width, height, left, right, top, bottom } = CHART_LAYOUT;
  const xDomain = xDomainOf(spec.epochs);
  const xScale = linearScale(xDomain, [left, width - right]);
  const yScale = linearScale(yDomain, [height - bottom, top]);
  const points: ChartPoint[] = [];
  for (const series of spec.series) {
    series.values.forEach((value, i) => {
      if (!Number.isFinite(value)) return;
      const epoch = spec.epochs[i];
      points.push({ key: series.key, epoch, value, x: xScale(epoch), y: yScale(value) });
    });
  }
  return { xDomain, yDomain, yTicks, xTicks: epochTicks(spec.epochs), points };
}

/** Rounds a pixel coordinate to two decimals, enough for any screen and short to write. */
function px(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** Path data of one series: a new subpath starts after every missing point. */
function linePath(points: readonly ChartPoint[], epochs: readonly number[]): string {
  let path = '';
  let previousIndex = -2;
  for (const point of points) {
    const index = epochs.indexOf(point.epoch);
    path += `${index === previousIndex + 1 ? 'L' : 'M'}${px(point.x)},${px(point.y)}`;
    previousIndex = index;
  }
  return path;
}

function axes(spec: LineChartSpec, geometry: ChartGeometry): string {
  const { width, height, left, right, top, bottom } = CHART_LAYOUT;
  const xScale = linearScale(geometry.xDomain, [left, width - right]);
  const yScale = linearScale(geometry.yDomain, [height - bottom, top]);
  const decimals = geometry.yTicks.length > 1 ? decimalsOf(geometry.yTicks[1] - geometry.yTicks[0]) : 0;
  const parts: string[] = [];
  for (const tick of geometry.yTicks) {
    const y = px(yScale(tick));
    parts.push(`<line class="grid" x1="${left}" y1="${y}" x2="${width - right}" y2="${y}"/>`);
    parts.push(`<text class="tick" x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tick.toFixed(decimals)}</text>`);
  }
  for (const tick of geometry.xTicks) {
    const x = px(xScale(tick));
    parts.push(`<line class="axis" x1="${x}" y1="${height - bottom}" x2="${x}" y2="${height - bottom + 5}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${height - bottom + 18}" text-anchor="middle">${tick}</text>`);
  }
  parts.push(`<line class="axis" x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}"/>`);
  parts.push(`<line class="axis" x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}"/>`);
  parts.push(`<text class="axis-label" x="${(left + width - right) / 2}" y="${height - 8}" text-anchor="middle">${escapeHtml(spec.xLabel)}</text>`);
  const yMiddle = (top + height - bottom) / 2;
  parts.push(`<text class="axis-label" x="14" y="${yMiddle}" text-anchor="middle" transform="rotate(-90 14 ${yMiddle})">${escapeHtml(spec.yLabel)}</text>`);
  return parts.join('');
}

function legend(series: readonly ChartSeries[]): string {
  const { left, top } = CHART_LAYOUT;
  return series
    .map((s, i) => {
      const x = left + i * 150;
      const y = top - 16;
      return (
        `<g class="legend-entry" data-series="${escapeHtml(s.key)}">` +
        `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${escapeHtml(s.colour)}" stroke-width="2"/>` +
        `<circle cx="${x + 11}" cy="${y}" r="3" fill="${escapeHtml(s.colour)}"/>` +
        `<text x="${x + 28}" y="${y}" dominant-baseline="middle">${escapeHtml(s.label)}</text></g>`
      );
    })
    .join('');
}

/**
 * Renders `spec` as an inline SVG line chart. Each point is a `<circle class="point">` with
 * data-series, data-epoch and data-value attributes and a tooltip.
 */
export function lineChart(spec: LineChartSpec): string {
  const geometry = chartGeometry(spec);
  const { width, height } = CHART_LAYOUT;
  const lines: string[] = [];
  const circles: string[] = [];
  for (const series of spec.series) {
    const points = geometry.points.filter((p) => p.key === series.key);
    const colour = escapeHtml(series.colour);
    const key = escapeHtml(series.key);
    if (points.length > 0) lines.push(`<path class="line" data-series="${key}" d="${linePath(points, spec.epochs)}" stroke="${colour}"/>`);
    for (const p of points) {
      const tip = escapeHtml(`${series.label}, epoch ${p.epoch}: ${p.value.toPrecision(5)}`);
      circles.push(`<circle class="point" data-series="${key}" data-epoch="${p.epoch}" data-value="${p.value}" cx="${px(p.x)}" cy="${px(p.y)}" r="3.5" fill="${colour}"><title>${tip}</title></circle>`);
    }
  }
  return (
    `<svg class="chart" role="img" aria-label="${escapeHtml(spec.title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">` +
    `<text class="chart-title" x="${width / 2}" y="16" text-anchor="middle">${escapeHtml(spec.title)}</text>` +
    axes(spec, geometry) +
    legend(spec.series) +
    lines.join('') +
    circles.join('') +
    '</svg>'
  );
}
