import { InputError } from '../shared/errors.js';
import { COST_USAGE, costCommand } from './cli/cost-command.js';
import { TRAIN_USAGE, trainCommand } from './cli/train-command.js';

const USAGE = `adjoin — compress CNNs with Adjoined Networks

Usage:
  ${COST_USAGE}

  ${TRAIN_USAGE}
`;

/** Exit codes: 0 done, 1 the job failed, 2 bad input (nothing written), 130 stopped by the user. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = (s: string): void => void process.stdout.write(`${s}\n`);
  const err = (s: string): void => void process.stderr.write(s);
  try {
    switch (command) {
      case 'cost':
        return costCommand(rest, out);
      case 'train':
        return await trainCommand(rest, {
          out,
          err,
          errIsTty: process.stderr.isTTY === true,
          onInterrupt: (handler) => {
            let interrupted = false;
            process.on('SIGINT', () => {
              // A second Ctrl-C leaves at once; the first checkpoints and stops.
              if (interrupted) process.exit(130);
              interrupted = true;
              err('\nstopping after this step (Ctrl-C again to quit now)…\n');
              handler();
            });
          },
        });
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new InputError(`unknown command '${command}' (see adjoin help)`, 'command');
    }
  } catch (e) {
    if (e instanceof InputError) {
      err(`adjoin: error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
