import { InputError } from '../shared/errors.js';
import type { Command, CommandIo } from './cli/command.js';
import { costCmd } from './cli/cost-command.js';
import { dataCmd } from './cli/data-command.js';
import { deleteCmd } from './cli/delete-command.js';
import { exportCmd } from './cli/export-command.js';
import { runsCmd } from './cli/runs-command.js';
import { searchCmd } from './cli/search-command.js';
import { showCmd } from './cli/show-command.js';
import { trainCmd } from './cli/train-command.js';

/** Every `adjoin` subcommand, in the order `adjoin help` lists them. */
const COMMANDS: readonly Command[] = [costCmd, dataCmd, trainCmd, searchCmd, runsCmd, showCmd, exportCmd, deleteCmd];

function usage(): string {
  return `adjoin — compress CNNs with Adjoined Networks\n\nUsage:\n${COMMANDS.map((c) => `  ${c.usage}`).join('\n\n')}\n`;
}

function processIo(): CommandIo {
  return {
    out: (s) => void process.stdout.write(`${s}\n`),
    err: (s) => void process.stderr.write(s),
    errIsTty: process.stderr.isTTY === true,
    onInterrupt: (handler) => {
      let interrupted = false;
      process.on('SIGINT', () => {
        // A second Ctrl-C leaves at once; the first lets the command stop cleanly.
        if (interrupted) process.exit(130);
        interrupted = true;
        process.stderr.write('\nstopping after this step (Ctrl-C again to quit now)…\n');
        handler();
      });
    },
  };
}

/** Exit codes: 0 done, 1 the job failed, 2 bad input (nothing written), 130 stopped by the user. */
export async function main(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      io.out(usage());
      return name === undefined ? 2 : 0;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (command === undefined) throw new InputError(`unknown command '${name}' (see adjoin help)`, 'command');
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof InputError) {
      io.err(`adjoin: error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
