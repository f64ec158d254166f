import { InputError } from '../shared/errors.js';
import type { Command, CommandIo } from './cli/command.js';

/**
 * Every `adjoin` subcommand, in the order `adjoin help` lists them. Each is
 * loaded when used: `adjoin runs` need not load TensorFlow.js and ONNX Runtime.
 */
const COMMANDS: ReadonlyArray<{ name: string; load: () => Promise<Command> }> = [
  { name: 'cost', load: async () => (await import('./cli/cost-command.js')).costCmd },
  { name: 'data', load: async () => (await import('./cli/data-command.js')).dataCmd },
  { name: 'train', load: async () => (await import('./cli/train-command.js')).trainCmd },
  { name: 'search', load: async () => (await import('./cli/search-command.js')).searchCmd },
  { name: 'runs', load: async () => (await import('./cli/runs-command.js')).runsCmd },
  { name: 'show', load: async () => (await import('./cli/show-command.js')).showCmd },
  { name: 'export', load: async () => (await import('./cli/export-command.js')).exportCmd },
  { name: 'latency', load: async () => (await import('./cli/latency-command.js')).latencyCmd },
  { name: 'delete', load: async () => (await import('./cli/delete-command.js')).deleteCmd },
  { name: 'sweep', load: async () => (await import('./cli/sweep-command.js')).sweepCmd },
  { name: 'db', load: async () => (await import('./cli/db-command.js')).dbCmd },
  { name: 'serve', load: async () => (await import('./cli/serve-command.js')).serveCmd },
  { name: 'doctor', load: async () => (await import('./cli/doctor-command.js')).doctorCmd },
  { name: 'worker', load: async () => (await import('./cli/worker-command.js')).workerCmd },
];

async function usage(): Promise<string> {
  const commands = await Promise.all(COMMANDS.map((c) => c.load()));
  return `adjoin — compress CNNs with Adjoined Networks\n\nUsage:\n${commands.map((c) => `  ${c.usage}`).join('\n\n')}\n`;
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

/** Exit codes: 0 done, 1 the job failed, 2 bad input (nothing written), 3 the run ran but the history would not take its outcome, 130 stopped by the user. */
export async function main(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      io.out(await usage());
      return name === undefined ? 2 : 0;
    }
    const entry = COMMANDS.find((c) => c.name === name);
    if (entry === undefined) throw new InputError(`unknown command '${name}' (see adjoin help)`, 'command');
    const command = await entry.load();
    // `adjoin train --help` (or `adjoin sweep show -h`): that command's usage, without running it.
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(`Usage:\n  ${command.usage}\n`);
      return 0;
    }
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof InputError) {
      io.err(`adjoin: error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
