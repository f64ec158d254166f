import { deleteRun } from '../jobs/host/delete-run.js';
import { parse } from './args.js';
import type { Command } from './command.js';
import { openExisting, runIdArg } from './store-args.js';

const DELETE_USAGE = `adjoin delete <run> [--db FILE]
  Removes a run from the history with its metrics and stored exports; its folder too if Adjoin created it.`;

export function deleteCommand(argv: string[], out: (s: string) => void): number {
  const { values, positionals } = parse(argv, { db: { type: 'string' } }, true);
  const id = runIdArg(positionals, 'delete');
  const store = openExisting(values.db);
  try {
    const { models, folder } = deleteRun(store, id);
    out(`deleted run ${id} from ${store.file} (${models} stored export${models === 1 ? '' : 's'}, its metrics and config)`);
    if (folder !== null) {
      out(
        folder.removed
          ? `removed its folder ${folder.path}`
          : `kept its folder ${folder.path} (chosen with --out; delete it yourself if you no longer need it)`,
      );
    }
    return 0;
  } finally {
    store.close();
  }
}

export const deleteCmd: Command = { name: 'delete', usage: DELETE_USAGE, run: (argv, io) => deleteCommand(argv, io.out) };
