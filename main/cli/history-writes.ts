import type { HistoryWrites } from '../../shared/api.js';
import type { HistoryWriter } from '../jobs/host/history-writer.js';
import type { Store } from '../store/store.js';
import type { CommandIo } from './command.js';

/** Exit code of a command whose run ran, but whose outcome the history would not take. */
export const NOT_RECORDED_EXIT = 3;

/** How long a command waits at its end for the history to take what it still holds (ADJOIN_RECORD_WAIT_S, default 60 s). */
export function recordWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['ADJOIN_RECORD_WAIT_S'];
  const s = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : 60_000;
}

/**
 * What the terminal is told of the history's writes: once when it stops
 * taking them (and why) — training goes on, the updates wait in memory — and
 * once when it takes them again.
 */
export function historyWritesPrinter(file: string, io: CommandIo): (state: HistoryWrites) => void {
  let shown: HistoryWrites = { state: 'ok' };
  return (state) => {
    const changed = state.state !== shown.state || (state.state === 'failing' && shown.state === 'failing' && state.problem !== shown.problem);
    shown = state;
    if (!changed) return;
    if (state.state === 'failing') {
      io.err(`adjoin: warning: cannot write to the history ${file}: ${state.reason}; training goes on and its updates wait in memory\n`);
    } else io.err(`adjoin: the history ${file} takes writes again; the waiting updates are in\n`);
  };
}

/**
 * At a command's end: waits up to `waitMs` (retrying) for the history to
 * take every waiting write. Null when all are in; else why not, in one line.
 */
export async function settleRecording(writer: HistoryWriter, store: Store, io: CommandIo, waitMs: number): Promise<string | null> {
  if (writer.flush()) return null;
  io.err(`adjoin: waiting up to ${Math.round(waitMs / 1000)} s for the history ${store.file} to take ${writer.pending} updates…\n`);
  if (await writer.settle(waitMs)) return null;
  const state = writer.state;
  return state.state === 'failing' ? state.reason : 'the history did not take the writes';
}
