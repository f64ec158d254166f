import { InputError } from '../../shared/errors.js';
import { validateGlobalAlpha } from '../../shared/model/config.js';
import { TRAIN_MODES, validateTrainConfig, type TrainConfig } from '../../shared/train-config.js';
import { train } from '../engine/train.js';
import { choiceArg, intArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { RUN_FLAGS, RUN_USAGE, draftModel, openRunData, runSettings, withRecordedRun } from './run-options.js';

const TRAIN_USAGE = `adjoin train --data <dir|idx folder|synthetic> --arch resnet18 --stem cifar --width 0.25 --mode an --alpha 4 --epochs 10 --batch 64
             ${RUN_USAGE}
  Trains a standard or adjoined network; saves weights, the extracted small network and a TF.js model under --out
  (default: the run's folder next to the database), and records the run in the history (--db).`;

export async function trainCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, { ...RUN_FLAGS, mode: { type: 'string' }, alpha: { type: 'string' } });
  const mode = choiceArg(values.mode, 'mode', TRAIN_MODES, 'an');
  if (mode === 'standard' && values.alpha !== undefined) throw new InputError('--alpha applies to --mode an only', 'alpha');
  const alpha = mode === 'an' ? validateGlobalAlpha(intArg(values.alpha, 'alpha', 4)) : null;
  const settings = runSettings(values);
  // Everything is checked before the data is read and before anything is written.
  const draft: TrainConfig = { ...settings, model: draftModel(settings), mode, alpha };
  validateTrainConfig(draft);

  const data = await openRunData(values, io);
  const config: TrainConfig = { ...draft, model: { ...draft.model, ...data.input } };
  return withRecordedRun(values, io, { config, data }, async (run) => {
    const outcome = await train({
      config,
      data: data.data,
      outDir: run.outDir,
      resume: values.resume === true,
      emit: run.emit,
      stopRequested: run.stopRequested,
    });
    return outcome.status;
  });
}

export const trainCmd: Command = { name: 'train', usage: TRAIN_USAGE, run: trainCommand };
