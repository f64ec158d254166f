import type { RunRecord } from '../../../shared/history.js';
import { formatAlpha } from './format.js';

/**
 * Comparing two runs' configs: both are flattened into dotted paths
 * (`optimizer.lr`, `model.width`, `alpha.stage2`…) and lined up, so the
 * compare view lists exactly the settings that differ.
 */

export type Leaf = string | number | boolean | null;

export interface DiffRow {
  key: string;
  a: Leaf | undefined;
  b: Leaf | undefined;
  same: boolean;
}

/** Every leaf of a JSON-like value under its dotted path; arrays become `key[0]`, … */
export function flatten(value: unknown, prefix = ''): Map<string, Leaf> {
  const out = new Map<string, Leaf>();
  const walk = (v: unknown, key: string): void => {
    if (Array.isArray(v)) {
      if (v.length === 0) out.set(key, '[]');
      v.forEach((x, i) => walk(x, `${key}[${i}]`));
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      if (entries.length === 0 && key !== '') out.set(key, '{}');
      for (const [k, x] of entries) walk(x, key === '' ? k : `${key}.${k}`);
    } else if (v === undefined) {
      // Absent: nothing to show.
    } else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) {
      out.set(key, v);
    } else {
      out.set(key, String(v));
    }
  };
  walk(value, prefix);
  return out;
}

/** All keys of both, in a's order then b's extra keys; `same` marks equal values. */
export function diffConfigs(a: unknown, b: unknown): DiffRow[] {
  const fa = flatten(a);
  const fb = flatten(b);
  const keys = [...fa.keys(), ...[...fb.keys()].filter((k) => !fa.has(k))];
  return keys.map((key) => {
    const va = fa.get(key);
    const vb = fb.get(key);
    return { key, a: va, b: vb, same: fa.has(key) && fb.has(key) && Object.is(va, vb) };
  });
}

/**
 * What the compare view lines up for a run: its dataset, mode and training
 * config, with a per-group α map spelled out only when the other run has
 * one too (else it reads "2–8 per group" against a plain "4"), and a DAN
 * search's own settings in a few keys rather than its whole config.
 */
export function comparableRun(run: RunRecord, other: RunRecord): Record<string, unknown> {
  const { alpha, ...config } = run.config;
  const bothMaps = typeof alpha === 'object' && alpha !== null && typeof other.config.alpha === 'object' && other.config.alpha !== null;
  const search = run.search;
  return {
    dataset: run.data?.name ?? null,
    kind: run.kind,
    ...config,
    alpha: bothMaps ? alpha : typeof alpha === 'object' && alpha !== null ? formatAlpha(alpha) : alpha,
    search:
      search === null
        ? null
        : {
            space: search.config.space.join(', '),
            gamma: search.config.gamma,
            epochs: search.config.epochs,
            tau: search.config.tau.initial,
            noise: search.config.noise,
            thenTrain: search.thenTrain,
          },
  };
}
