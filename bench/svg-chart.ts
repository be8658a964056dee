/**
 * A small, dependency-free SVG line chart: linear axes with "nice" ticks, one polyline per
 * series (optionally drawn as steps, optionally with point markers), a legend, a title.
 * Pure: data in, SVG text out.
 *
 * @internal benchmark, not part of the runtime
 */

/** One line of the chart. */
export interface ChartSeries {
  readonly name: string;
  /** [x, y] in data units, drawn in order. */
  readonly points: readonly (readonly [number, number])[];
  /** Draw horizontal-then-vertical steps between points (for CDFs). Default false. */
  readonly step?: boolean;
  /** Draw a dot on every point. Default false. */
  readonly markers?: boolean;
  /** Dashed line. Default false. */
  readonly dashed?: boolean;
}

/** Options of {@link lineChart}. */
export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** Picture size in px without the legend (which adds 20 px per series below the plot). Default 760 x 440. */
  readonly width: number;
  readonly height: number;
  /** Axis bounds; default: 0 (or the data minimum if negative) to the data maximum rounded up to a tick. */
  readonly xMin: number | undefined;
  readonly xMax: number | undefined;
  readonly yMin: number | undefined;
  readonly yMax: number | undefined;
  /** Text under the title (e.g. the run's date and host). Default "". */
  readonly subtitle: string;
}

/** Colour of series `i` (colour-blind-safe palette, Okabe–Ito). */
export const SERIES_COLORS: readonly string[] = ["#000000", "#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442"];

const xml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const num = (v: number): string => (Math.round(v * 100) / 100).toString();

/** A step of 1, 2 or 5 times a power of ten giving about `count` intervals over `range`. */
export function niceStep(range: number, count = 5): number {
  if (!(range > 0)) return 1;
  const raw = range / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function ticks(min: number, max: number): number[] {
  const step = niceStep(max - min);
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 10_000) return `${num(v / 1000)}k`;
  if (a >= 1) return num(v);
  return v.toPrecision(2);
}

/** Renders the chart. Series without points are listed in the legend as "(no data)". */
export function lineChart(series: readonly ChartSeries[], options: Partial<LineChartOptions> & Pick<LineChartOptions, "title" | "xLabel" | "yLabel">): string {
  const o: LineChartOptions = { width: 760, height: 440, xMin: undefined, xMax: undefined, yMin: undefined, yMax: undefined, subtitle: "", ...options };
  const all = series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const rawXMax = o.xMax ?? (xs.length > 0 ? Math.max(...xs) : 1);
  const rawYMax = o.yMax ?? (ys.length > 0 ? Math.max(...ys) : 1);
  const xMin = o.xMin ?? Math.min(0, ...xs);
  const yMin = o.yMin ?? Math.min(0, ...ys);
  const xStep = niceStep(rawXMax - xMin);
  const yStep = niceStep(rawYMax - yMin);
  const xMax = o.xMax ?? Math.max(xMin + xStep, Math.ceil(rawXMax / xStep) * xStep);
  const yMax = o.yMax ?? Math.max(yMin + yStep, Math.ceil(rawYMax / yStep) * yStep);

  // The legend goes under the plot, one line per series, so long labels never get cut.
  const legendH = 20 * series.length + 8;
  const height = o.height + legendH;
  const m = { left: 64, right: 24, top: o.subtitle === "" ? 44 : 60, bottom: 52 + legendH };
  const pw = o.width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const sx = (x: number): number => m.left + ((x - xMin) / (xMax - xMin)) * pw;
  const sy = (y: number): number => m.top + ph - ((y - yMin) / (yMax - yMin)) * ph;

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${o.width}" height="${height}" viewBox="0 0 ${o.width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  parts.push(`<text x="${m.left}" y="22" font-size="15" font-weight="bold">${xml(o.title)}</text>`);
  if (o.subtitle !== "") parts.push(`<text x="${m.left}" y="40" fill="#555">${xml(o.subtitle)}</text>`);
  for (const t of ticks(xMin, xMax)) {
    parts.push(`<line x1="${num(sx(t))}" y1="${m.top}" x2="${num(sx(t))}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${num(sx(t))}" y="${m.top + ph + 16}" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  for (const t of ticks(yMin, yMax)) {
    parts.push(`<line x1="${m.left}" y1="${num(sy(t))}" x2="${m.left + pw}" y2="${num(sy(t))}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.left - 6}" y="${num(sy(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 36}" text-anchor="middle">${xml(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${xml(o.yLabel)}</text>`);

  series.forEach((s, i) => {
    const color = SERIES_COLORS[i % SERIES_COLORS.length] as string;
    const dash = s.dashed === true ? ` stroke-dasharray="6 4"` : "";
    if (s.points.length > 0) {
      const pts: string[] = [];
      s.points.forEach(([x, y], j) => {
        if (s.step === true && j > 0) pts.push(`${num(sx(x))},${num(sy((s.points[j - 1] as readonly [number, number])[1]))}`);
        pts.push(`${num(sx(x))},${num(sy(y))}`);
      });
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${pts.join(" ")}"/>`);
      if (s.markers === true) for (const [x, y] of s.points) parts.push(`<circle cx="${num(sx(x))}" cy="${num(sy(y))}" r="3.5" fill="${color}"/>`);
    }
    const ly = m.top + ph + 62 + i * 20;
    const lx = m.left;
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="3"${dash}/>`);
    parts.push(`<text x="${lx + 28}" y="${ly + 4}">${xml(s.name)}${s.points.length === 0 ? " (no data)" : ""}</text>`);
  });
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}
