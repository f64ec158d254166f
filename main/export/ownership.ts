import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../shared/errors.js';
import { METADATA_FORMAT_VERSION } from './metadata.js';

/**
 * The files an earlier export wrote into `dir`, as its metadata.json lists
 * them; empty when there is no metadata.json or it is not Adjoin's (its
 * format version and source run are how Adjoin knows its own).
 */
export function adjoinFilesIn(dir: string): Set<string> {
  let meta: unknown;
  try {
    meta = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
  } catch {
    return new Set();
  }
  const m = meta as { formatVersion?: unknown; sourceRunId?: unknown; files?: unknown };
  if (m.formatVersion !== METADATA_FORMAT_VERSION || typeof m.sourceRunId !== 'number' || !Array.isArray(m.files)) return new Set();
  const files = m.files.filter((f): f is string => typeof f === 'string');
  return new Set([...files, 'labels.txt', 'metadata.json']);
}

/** Those of `names` that already exist in `dir` and were not written by Adjoin. */
export function foreignFiles(dir: string, names: readonly string[]): string[] {
  const ours = adjoinFilesIn(dir);
  return names.filter((n) => statSync(join(dir, n), { throwIfNoEntry: false }) !== undefined && !ours.has(n));
}

/** The export would replace files Adjoin did not write: the user must say so (`--overwrite`, or a confirmation). */
export class ForeignFilesError extends InputError {
  constructor(
    readonly dir: string,
    readonly files: string[],
  ) {
    super(
      `${dir} already holds ${files.join(', ')}, which Adjoin did not write; choose another folder, or replace ${files.length === 1 ? 'it' : 'them'} ` +
        'with --overwrite (in the app: confirm)',
      'overwrite',
    );
  }
}

/** Refuses to write `names` into `dir` over files Adjoin did not write, unless `overwrite`. */
export function refuseForeignFiles(dir: string, names: readonly string[], overwrite: boolean): void {
  if (overwrite) return;
  const foreign = foreignFiles(dir, names);
  if (foreign.length > 0) throw new ForeignFilesError(dir, foreign);
}
