import { paretoFront, type ShippedPoint } from './sweep.js';

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo;
  if (span <= 0) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

function macsLabel(m: number): string {
  if (m >= 1e9) return `${(m / 1e9).toFixed(m >= 1e10 ? 0 : 1)}G`;
  if (m >= 1e6) return `${(m / 1e6).toFixed(m >= 1e7 ? 0 : 1)}M`;
  if (m >= 1e3) return `${(m / 1e3).toFixed(0)}K`;
  return String(m);
}

/** Horizontal distance between points of equal cost, and the least vertical distance between labels, in px. */
const DODGE_PX = 14;
const LABEL_GAP_PX = 15;

interface PlacedPoint {
  point: { x: number; y: number };
  label: { x: number; y: number; anchor: 'start' | 'end' };
}

/**
 * Where each point and its label go: points within a few pixels of the same
 * x are spread side by side (ordered by accuracy, highest first, so the
 * column reads left to right as it does top to bottom); their labels stand
 * beside the group, right of it (left near the right edge, past `rightLimit`),
 * pushed apart vertically so none overlaps another.
 */
export function dodge<T extends { key: string }>(
  points: readonly T[],
  xOf: (p: T) => number,
  yOf: (p: T) => number,
  rightLimit: number,
): Map<string, PlacedPoint> {
  const groups: T[][] = [];
  for (const p of [...points].sort((a, b) => xOf(a) - xOf(b))) {
    const last = groups.at(-1);
    if (last !== undefined && Math.abs(xOf(p) - xOf(last[0]!)) < DODGE_PX / 2) last.push(p);
    else groups.push([p]);
  }
  const placed = new Map<string, PlacedPoint>();
  for (const group of groups) {
    const centre = group.reduce((sum, p) => sum + xOf(p), 0) / group.length;
    group.sort((a, b) => yOf(a) - yOf(b));
    const xs = group.map((_, i) => centre + (i - (group.length - 1) / 2) * DODGE_PX);
    const right = centre < rightLimit;
    const labelX = right ? Math.max(...xs) + 9 : Math.min(...xs) - 9;
    // Top to bottom, each label at least a line below the one above it.
    let previous = -Infinity;
    group.forEach((p, i) => {
      const y = Math.max(yOf(p), previous + LABEL_GAP_PX);
      previous = y;
      placed.set(p.key, { point: { x: xs[i]!, y: yOf(p) }, label: { x: labelX, y, anchor: right ? 'start' : 'end' } });
    });
  }
  return placed;
}

export interface PlotOptions {
  title: string;
  width?: number;
  height?: number;
}

/** Where the plot area sits and how data map onto it. */
interface Frame {
  width: number;
  height: number;
  m: { left: number; right: number; top: number; bottom: number };
  w: number;
  h: number;
  /** log10 MACs and accuracy (%) ranges of the axes. */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  px: (macs: number) => number;
  py: (percent: number) => number;
}

/** Axes that hold every point with its error bar, with a margin. */
function frameFor(points: readonly ShippedPoint[], width: number, height: number): Frame {
  const m = { left: 64, right: 32, top: 64, bottom: 56 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const xs = points.map((p) => Math.log10(p.macs));
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  if (x1 - x0 < 0.1) {
    x0 -= 0.05;
    x1 += 0.05;
  }
  const padX = (x1 - x0) * 0.08;
  x0 -= padX;
  x1 += padX;
  let y0 = Math.min(...points.map((p) => 100 * (p.accuracy.mean - (p.accuracy.std ?? 0))));
  let y1 = Math.max(...points.map((p) => 100 * (p.accuracy.mean + (p.accuracy.std ?? 0))));
  const padY = Math.max((y1 - y0) * 0.15, 0.5);
  y0 -= padY;
  y1 += padY;
  return {
    width,
    height,
    m,
    w,
    h,
    x0,
    x1,
    y0,
    y1,
    px: (v) => m.left + ((Math.log10(v) - x0) / (x1 - x0)) * w,
    py: (v) => m.top + (1 - (v - y0) / (y1 - y0)) * h,
  };
}

/** Grid, frame, tick labels and axis titles. */
function axes(f: Frame): string[] {
  const { m, w, h, px, py } = f;
  const parts = [`<g stroke="#e3e3e3" stroke-width="1">`];
  const yTicks = niceTicks(f.y0, f.y1, 6);
  for (const t of yTicks) parts.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}"/>`);
  const xTicks: number[] = [];
  // Less than a decade or two wide: tick every digit, not only 1, 2 and 5.
  const digits = f.x1 - f.x0 < 1.5 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : [1, 2, 5];
  for (let d = Math.floor(f.x0); d <= Math.ceil(f.x1); d++) {
    for (const k of digits) {
      const v = k * 10 ** d;
      if (Math.log10(v) >= f.x0 && Math.log10(v) <= f.x1) xTicks.push(v);
    }
  }
  for (const t of xTicks) parts.push(`<line y1="${m.top}" y2="${m.top + h}" x1="${px(t).toFixed(1)}" x2="${px(t).toFixed(1)}"/>`);
  parts.push(`</g>`);
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#333"/>`);
  for (const t of yTicks) parts.push(`<text x="${m.left - 8}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${t.toFixed(t % 1 === 0 ? 0 : 1)}</text>`);
  for (const t of xTicks) parts.push(`<text x="${px(t).toFixed(1)}" y="${m.top + h + 18}" text-anchor="middle">${macsLabel(t)}</text>`);
  parts.push(`<text x="${m.left + w / 2}" y="${f.height - 14}" text-anchor="middle">multiply-adds of the shipped network (log scale)</text>`);
  parts.push(`<text transform="translate(16 ${m.top + h / 2}) rotate(-90)" text-anchor="middle">top-1 accuracy (%)</text>`);
  return parts;
}

/** The Pareto front, each point with its ±1 s.d. bar and label, and the legend. */
function marks(points: readonly ShippedPoint[], f: Frame): string[] {
  const { m, w, px, py } = f;
  const parts: string[] = [];
  // Configurations of equal cost (small, kd and an at one α) share an x:
  // spread them apart so their error bars and labels stay readable.
  const centre = new Map(points.map((p) => [p.key, px(p.macs)]));
  const layout = dodge(
    points,
    (p) => centre.get(p.key)!,
    (p) => py(100 * p.accuracy.mean),
    m.left + w * 0.75,
  );
  const at = (p: ShippedPoint): { x: number; y: number } => layout.get(p.key)!.point;

  // The Pareto front: fewer MACs and higher accuracy than anything beside it.
  const front = paretoFront(points);
  const onFront = new Set(front.map((p) => p.key));
  if (front.length > 1) {
    const path = front.map((p, i) => `${i === 0 ? 'M' : 'L'}${at(p).x.toFixed(1)},${at(p).y.toFixed(1)}`).join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="#d95f02" stroke-width="2" stroke-dasharray="6 4"/>`);
  }
  for (const p of points) {
    const { x, y } = at(p);
    if (p.accuracy.std !== null) {
      const lo = py(100 * (p.accuracy.mean - p.accuracy.std));
      const hi = py(100 * (p.accuracy.mean + p.accuracy.std));
      parts.push(
        `<g stroke="#1b6ca8" stroke-width="1.5"><line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${lo.toFixed(1)}" y2="${hi.toFixed(1)}"/>` +
          `<line x1="${(x - 4).toFixed(1)}" x2="${(x + 4).toFixed(1)}" y1="${lo.toFixed(1)}" y2="${lo.toFixed(1)}"/>` +
          `<line x1="${(x - 4).toFixed(1)}" x2="${(x + 4).toFixed(1)}" y1="${hi.toFixed(1)}" y2="${hi.toFixed(1)}"/></g>`,
      );
    }
    const filled = onFront.has(p.key);
    const label = layout.get(p.key)!.label;
    parts.push(
      `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="5" fill="${filled ? '#d95f02' : '#ffffff'}" stroke="${filled ? '#d95f02' : '#1b6ca8'}" stroke-width="2"/>`,
      `<text x="${label.x.toFixed(1)}" y="${(label.y + 4).toFixed(1)}" text-anchor="${label.anchor}">${escapeXml(p.label)}</text>`,
    );
  }
  parts.push(
    `<g transform="translate(${m.left} 46)"><circle cx="5" r="5" fill="#d95f02"/><text x="14" y="4">Pareto front (fewer MACs, higher accuracy)</text>` +
      `<circle cx="${w / 2 + 25}" r="5" fill="#fff" stroke="#1b6ca8" stroke-width="2"/><text x="${w / 2 + 34}" y="4">mean ± 1 s.d. over seeds</text></g>`,
  );
  return parts;
}

/**
 * Accuracy of the network each configuration ships against its MACs (log
 * scale): mean over seeds with ±1 standard deviation bars, the Pareto front
 * drawn and its points filled. A standalone SVG document (the CLI writes it,
 * renders it to PNG for the README, and the app shows the same drawing).
 */
export function sweepPlotSvg(points: readonly ShippedPoint[], o: PlotOptions): string {
  const width = o.width ?? 720;
  const height = o.height ?? 440;
  const head = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(o.title)}</text>`,
  ];
  if (points.length === 0) {
    return [...head, `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" fill="#666">no finished runs yet</text></svg>`].join('');
  }
  const frame = frameFor(points, width, height);
  return [...head, ...axes(frame), ...marks(points, frame), '</svg>'].join('');
}
