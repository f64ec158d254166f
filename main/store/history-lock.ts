import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { InputError } from '../../shared/errors.js';
import { thisProcess, type LivenessProbe } from './liveness.js';

/** Who holds a history: the app, the browser shell, or a restore putting a backup in its place. */
export type HistoryHolderKind = 'the desktop app' | 'adjoin serve' | 'adjoin db restore';

export interface HistoryHolder {
  kind: HistoryHolderKind;
  pid: number;
  host: string;
  since: number;
}

/** The marker next to a history: adjoin.db → adjoin.db.lock. */
export function lockFileOf(database: string): string {
  return `${database}.lock`;
}

function parseHolder(text: string): HistoryHolder | null {
  try {
    const v = JSON.parse(text) as Partial<HistoryHolder>;
    if (typeof v.kind === 'string' && typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.since === 'number') return v as HistoryHolder;
  } catch {
    // A marker cut short (the holder died while writing it) holds nothing.
  }
  return null;
}

/**
 * The live holder of `database`'s marker, or null. A marker whose process
 * is gone (killed, crashed, power cut) holds nothing. One from another host
 * (a history on a shared disk) is taken as live: its process cannot be
 * looked at from here.
 */
export function holderOf(database: string, probe: Pick<LivenessProbe, 'host' | 'isAlive'> = thisProcess()): HistoryHolder | null {
  let text: string;
  try {
    text = readFileSync(lockFileOf(database), 'utf8');
  } catch {
    return null;
  }
  const holder = parseHolder(text);
  if (holder === null) return null;
  if (holder.host === probe.host && !probe.isAlive(holder.pid)) return null;
  return holder;
}

export function describeHolder(h: HistoryHolder): string {
  return `${h.kind} (pid ${h.pid} on ${h.host}, since ${new Date(h.since).toISOString()})`;
}

/** The history is held by another live process. */
export class HistoryInUseError extends InputError {
  constructor(
    readonly database: string,
    readonly holder: HistoryHolder,
    wanted: string,
  ) {
    super(`cannot ${wanted}: the history ${database} is open in ${describeHolder(holder)}; quit it first, or use another --db`, 'db');
  }
}

export interface HistoryLock {
  readonly file: string;
  release(): void;
}

/**
 * Takes the exclusive marker on a history for as long as the app or the
 * browser shell has it open (or a restore replaces it): a lock file created
 * with O_EXCL, holding this process's pid and host. A marker left by a dead
 * process is taken over. Throws HistoryInUseError naming a live holder.
 * Where the folder cannot take the file (read-only), there is nothing a
 * restore could do there either, and no marker is needed: returns a no-op.
 */
export function lockHistory(database: string, kind: HistoryHolderKind, wanted: string, probe: LivenessProbe = thisProcess()): HistoryLock {
  const file = lockFileOf(database);
  const me: HistoryHolder = { kind, pid: probe.pid, host: probe.host, since: probe.now() };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o644);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'ENOENT') return { file, release: () => undefined };
      if (code !== 'EEXIST') throw e;
      const holder = holderOf(database, probe);
      if (holder !== null) throw new HistoryInUseError(database, holder, wanted);
      // Its holder died: the marker is stale. Whoever removes it first takes it next.
      rmSync(file, { force: true });
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me));
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      file,
      release: () => {
        if (released) return;
        released = true;
        // Only our own marker: a stale one taken over by another process is theirs now.
        const current = (() => {
          try {
            return parseHolder(readFileSync(file, 'utf8'));
          } catch {
            return null;
          }
        })();
        if (current !== null && current.pid === me.pid && current.host === me.host && current.since === me.since) rmSync(file, { force: true });
      },
    };
  }
  const holder = holderOf(database, probe);
  if (holder !== null) throw new HistoryInUseError(database, holder, wanted);
  throw new InputError(`cannot ${wanted}: another process keeps taking the marker ${file}`, 'db');
}
