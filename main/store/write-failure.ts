import type { HistoryWriteProblem } from '../../shared/api.js';

/**
 * Why SQLite refused a write, in the terms a person can act on. `busy`
 * passes by itself (another program holds the write lock); `full`,
 * `read-only` and `io` need the user (free space, fix permissions, reattach
 * the disk); `damaged` needs a restore; `other` is a bug or a row that is
 * gone, and retrying will not help.
 */
export type WriteFailureKind = HistoryWriteProblem | 'other';

export interface WriteFailure {
  kind: WriteFailureKind;
  /** One line for a banner or a terminal. */
  reason: string;
  /** SQLite's (or the system's) code, when there was one. */
  code: string | null;
}

export function errorCode(e: unknown): string | null {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : null;
}

function kindOf(code: string): WriteFailureKind {
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'full';
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code.startsWith('SQLITE_CANTOPEN')) return 'read-only';
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') return 'io';
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return 'damaged';
  return 'other';
}

const REASONS: Record<Exclude<WriteFailureKind, 'other'>, string> = {
  busy: 'another program holds the database’s write lock',
  full: 'the disk is full',
  'read-only': 'the database file or its folder is read-only',
  io: 'the disk reported an input/output error',
  damaged: 'the database file is damaged',
};

/** Classifies a failed write (an SqliteError, a system error, anything thrown). */
export function classifyWriteFailure(e: unknown): WriteFailure {
  const code = errorCode(e);
  const message = e instanceof Error ? e.message : String(e);
  const kind = code === null ? 'other' : kindOf(code);
  const reason = kind === 'other' ? message : `${REASONS[kind]} (${message})`;
  return { kind, reason, code };
}
