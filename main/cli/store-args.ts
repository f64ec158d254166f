import { join, resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import { dataDir } from '../app-paths.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';

/** The database every command uses unless `--db` says otherwise: the desktop app's own. */
export function defaultDbFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(dataDir(env), 'adjoin.db');
}

export function dbFile(flag: string | undefined): string {
  return resolve(flag ?? defaultDbFile());
}

/** Opens the history for a command that reads or changes existing runs: it must exist. */
export function openExisting(flag: string | undefined): Store {
  return openStore(dbFile(flag), { mustExist: true });
}

/** Run ids are the integers `adjoin runs` lists (`12`; `#12` is accepted too). */
export function runIdArg(positionals: readonly string[], command: string): number {
  if (positionals.length === 0) throw new InputError(`adjoin ${command} needs a run id (see adjoin runs)`, 'run');
  if (positionals.length > 1) throw new InputError(`adjoin ${command} takes one run id, got ${positionals.join(' ')}`, 'run');
  const text = positionals[0]!.replace(/^#/, '');
  if (!/^[1-9][0-9]{0,15}$/.test(text)) throw new InputError(`a run id is a positive integer, got '${positionals[0]}'`, 'run');
  return Number(text);
}
