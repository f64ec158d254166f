import type Database from 'better-sqlite3';

/** One better-sqlite3 connection; every module of the store works on one. */
export type Db = Database.Database;

/** JSON with sorted keys, so equal values are equal text (UNIQUE columns, comparisons). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
