import type { ModelDetails, RunDetails } from '../../../shared/history.js';
import { formatBytes, formatCount, formatMacs, formatMs, formatPercent, formatRatio } from './format.js';
import { weightBytes } from './wizard-config.js';

/**
 * The Results screen's full-vs-small table, from what the history holds:
 * accuracies and costs of the run, and file sizes and latencies of its
 * latest ONNX export (the one that is timed). Before an export, the size is
 * the float32 weights' size, marked "≈", and the latency is not measured.
 */

export interface ComparisonRow {
  key: 'accuracy' | 'params' | 'macs' | 'size' | 'latency';
  label: string;
  full: string;
  small: string;
  /** How the small network compares: "4.0× fewer", "3.1× faster", "−1.5 pts". */
  change: string;
}

/**
 * The latest export of a network, preferring float32 (the full-vs-small
 * comparison is of the networks, not of precisions) and then ONNX.
 */
export function latestExport(models: readonly ModelDetails[], network: 'small' | 'full'): ModelDetails | null {
  const of = models.filter((m) => m.network === network);
  const pools = [of.filter((m) => m.precision === 'fp32' && m.format === 'onnx'), of.filter((m) => m.precision === 'fp32'), of];
  const pool = pools.find((p) => p.length > 0) ?? [];
  return pool.reduce<ModelDetails | null>((best, m) => (best === null || m.createdAt > best.createdAt ? m : best), null);
}

function ratio(full: number | null | undefined, small: number | null | undefined, word: string): string {
  if (full === null || full === undefined || small === null || small === undefined || small <= 0) return '—';
  return `${formatRatio(full / small)} ${word}`;
}

function points(full: number | null | undefined, small: number | null | undefined): string {
  if (full === null || full === undefined || small === null || small === undefined) return '—';
  const d = (small - full) * 100;
  return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} pts`;
}

export function comparisonRows(d: RunDetails): ComparisonRow[] {
  const { run } = d;
  const fullCost = run.cost?.full ?? null;
  const smallCost = run.cost?.small ?? null;
  const small = latestExport(d.models, 'small');
  const fullModel = latestExport(d.models, 'full');
  // A standard run exports its one network as "small" (README, `adjoin export`): it is the full one.
  const standard = run.config.mode === 'standard' && run.kind === 'train';
  const accFull = run.val.full?.accuracy ?? null;
  const accSmall = standard ? null : (run.val.small?.accuracy ?? null);

  const sizeSmall = standard ? null : (small?.byteSize ?? null);
  const sizeFull = standard ? (small?.byteSize ?? fullModel?.byteSize ?? null) : (fullModel?.byteSize ?? null);
  const estimateSize = (params: number | undefined, exported: number | null): string =>
    exported !== null ? formatBytes(exported) : params === undefined ? '—' : `≈ ${formatBytes(weightBytes(params, 'float32'))}`;
  const latencySmall = standard ? null : (small?.latencyMs ?? null);
  const latencyFull = standard ? (small?.latencyMs ?? null) : (small?.fullLatencyMs ?? fullModel?.latencyMs ?? null);
  const speedup = standard
    ? null
    : (small?.latencySpeedup ?? (latencyFull !== null && latencySmall !== null && latencySmall > 0 ? latencyFull / latencySmall : null));

  return [
    { key: 'accuracy', label: 'Validation accuracy', full: formatPercent(accFull), small: formatPercent(accSmall), change: points(accFull, accSmall) },
    {
      key: 'params',
      label: 'Parameters',
      full: formatCount(fullCost?.params),
      small: standard ? '—' : formatCount(smallCost?.params),
      change: standard ? '—' : ratio(fullCost?.params, smallCost?.params, 'fewer'),
    },
    {
      key: 'macs',
      label: 'MACs per image',
      full: formatMacs(fullCost?.macs),
      small: standard ? '—' : formatMacs(smallCost?.macs),
      change: standard ? '—' : ratio(fullCost?.macs, smallCost?.macs, 'fewer'),
    },
    {
      key: 'size',
      label: 'File size',
      full: estimateSize(fullCost?.params, sizeFull),
      small: standard ? '—' : estimateSize(smallCost?.params, sizeSmall),
      change: standard
        ? '—'
        : ratio(sizeFull ?? (fullCost === null ? null : fullCost.params * 4), sizeSmall ?? (smallCost === null ? null : smallCost.params * 4), 'smaller'),
    },
    {
      key: 'latency',
      label: 'Latency',
      full: latencyFull === null ? 'not measured' : formatMs(latencyFull),
      small: standard ? '—' : latencySmall === null ? 'not measured' : formatMs(latencySmall),
      change: speedup === null ? '—' : `${formatRatio(speedup)} faster`,
    },
  ];
}
