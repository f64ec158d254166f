import type { AlphaSpec } from '../../../shared/model/config.js';

/**
 * How numbers read in the UI: counts and MACs with SI suffixes, sizes in MB
 * (10^6 bytes, as file managers show them), accuracies as percentages,
 * durations as "1 h 02 m" or "3 m 05 s".
 */

const DASH = '—';

function siNumber(n: number, digits: number): string {
  const abs = Math.abs(n);
  const units: Array<[number, string]> = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, suffix] of units) {
    if (abs >= scale) return `${trimZeros((n / scale).toFixed(digits))}${suffix}`;
  }
  return String(Math.round(n));
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** 11,689,512 → "11.69M"; 910 → "910". */
export function formatCount(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  return siNumber(n, digits);
}

/** Multiply-adds: 1.81e9 → "1.81 GMACs". */
export function formatMacs(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  const s = siNumber(n, 2);
  const last = s.at(-1) ?? '';
  return /[kMGT]/.test(last) ? `${s.slice(0, -1)} ${last}MACs` : `${s} MACs`;
}

/** Bytes as MB with enough digits to tell small models apart. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return DASH;
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${trimZeros((bytes / 1e3).toFixed(1))} kB`;
  const mb = bytes / 1e6;
  return `${trimZeros(mb.toFixed(mb < 10 ? 2 : 1))} MB`;
}

/** 0.9134 → "91.3%". */
export function formatPercent(fraction: number | null | undefined, digits = 1): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return DASH;
  return `${(fraction * 100).toFixed(digits)}%`;
}

/** Seconds as "45 s", "3 m 05 s", "1 h 02 m". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return DASH;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, '0')} m`;
}

/** Milliseconds with a precision that suits them. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH;
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 100 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** A ratio such as a speed-up: 3.914 → "3.9×". */
export function formatRatio(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return DASH;
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

/** Numbers as a person would type them: 0.05, 5e-4, 4e-3. */
export function formatNumber(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  if (n !== 0 && (Math.abs(n) < 1e-3 || Math.abs(n) >= 1e6)) return trimExponent(n.toExponential(2));
  return trimZeros(n.toFixed(4));
}

function trimExponent(s: string): string {
  const [mantissa, exponent] = s.split('e');
  return `${trimZeros(mantissa ?? '')}e${exponent ?? ''}`;
}

/** A loss value: enough digits to see it fall. */
export function formatLoss(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  return n.toFixed(n >= 10 ? 2 : 4);
}

/** "α 4", or for a per-group map the range of its values. */
export function formatAlpha(alpha: AlphaSpec | null | undefined): string {
  if (alpha === null || alpha === undefined) return DASH;
  if (typeof alpha === 'number') return String(alpha);
  const values = Object.values(alpha);
  if (values.length === 0) return DASH;
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? String(lo) : `${lo}–${hi} per group`;
}

/** A date and time in the user's locale, minutes precision. */
export function formatDateTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH;
  const d = new Date(ms);
  const sameYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleString(undefined, { ...(sameYear ? {} : { year: 'numeric' }), month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** Images per second, rounded for a badge. */
export function formatRate(perSecond: number | null | undefined, unit = 'img/s'): string {
  if (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond)) return DASH;
  return `${perSecond >= 100 ? Math.round(perSecond) : perSecond.toFixed(1)} ${unit}`;
}
