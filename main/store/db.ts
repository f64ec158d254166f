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

/**
 * The id an `INSERT … RETURNING id` statement reports, committed for sure.
 * `Statement.get` takes the first row and resets the statement; in
 * autocommit mode the reset is what commits, and a commit that fails there
 * (a full disk) is not reported: the caller gets an id for a row that was
 * never stored. In an explicit transaction the failing COMMIT throws.
 */
export function insertReturningId(db: Db, sql: string, ...params: unknown[]): number {
  return db.transaction(() => (db.prepare(sql).get(...params) as { id: number }).id)();
}
