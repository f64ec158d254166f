import { existsSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { InputError } from '../../shared/errors.js';
import { deathOf, thisProcess } from '../store/liveness.js';
import { parse } from './args.js';
import type { Command } from './command.js';
import { openExisting, runIdArg } from './store-args.js';

const DELETE_USAGE = `adjoin delete <run> [--db FILE]
  Removes a run from the history with its metrics and stored exports; its folder too if Adjoin created it.`;

/** Whether `dir` is a run folder Adjoin made itself (`<database folder>/runs/<id>`), so it may delete it. */
function ownedFolder(dbFile: string, dir: string, runId: number): boolean {
  return relative(join(dirname(dbFile), 'runs'), dir) === String(runId);
}

export function deleteCommand(argv: string[], out: (s: string) => void): number {
  const { values, positionals } = parse(argv, { db: { type: 'string' } }, true);
  const id = runIdArg(positionals, 'delete');
  const store = openExisting(values.db);
  try {
    const run = store.runs.require(id);
    if ((run.status === 'running' || run.status === 'queued') && deathOf(store.file, id, run.owner, thisProcess()) === null) {
      throw new InputError(`run ${id} is ${run.status} (pid ${run.owner.pid ?? '?'}); stop it before deleting it`, 'run');
    }
    const models = store.models.list(id).length;
    store.runs.delete(id);
    out(`deleted run ${id} from ${store.file} (${models} stored export${models === 1 ? '' : 's'}, its metrics and config)`);
    if (run.outDir !== null && existsSync(run.outDir)) {
      if (ownedFolder(store.file, run.outDir, id)) {
        rmSync(run.outDir, { recursive: true, force: true });
        out(`removed its folder ${run.outDir}`);
      } else {
        out(`kept its folder ${run.outDir} (chosen with --out; delete it yourself if you no longer need it)`);
      }
    }
    return 0;
  } finally {
    store.close();
  }
}

export const deleteCmd: Command = { name: 'delete', usage: DELETE_USAGE, run: (argv, io) => deleteCommand(argv, io.out) };
