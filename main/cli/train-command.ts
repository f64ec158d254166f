import { InputError } from '../../shared/errors.js';
import { validateGlobalAlpha } from '../../shared/model/config.js';
import { DEFAULT_KD, TRAIN_MODES, validateTrainConfig, type TrainConfig } from '../../shared/train-config.js';
import type { TrainingData } from '../engine/data/types.js';
import { datasetKey } from '../jobs/dataset-row.js';
import { train } from '../engine/train.js';
import { heldMessage, holdUntilReleased, testHooksFromEnv } from '../jobs/test-hold.js';
import { choiceArg, intArg, numberArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { RUN_FLAGS, RUN_USAGE, draftModel, openRunData, runSettings, withRecordedRun, workersOption } from './run-options.js';
import { openExisting, runIdArg } from './store-args.js';

const TRAIN_USAGE = `adjoin train --data <dir|idx folder|synthetic> --arch resnet18 --stem cifar --width 0.25 --mode an --alpha 4 --epochs 10 --batch 64
             [--mode standard|an|small|kd] [--teacher RUN] [--kd-temperature 4] [--kd-weight 0.9]
             ${RUN_USAGE}
  Trains a standard or adjoined network; saves weights, the extracted small network and a TF.js model under --out
  (default: the run's folder next to the database), and records the run in the history (--db).`;

export async function trainCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    ...RUN_FLAGS,
    mode: { type: 'string' },
    alpha: { type: 'string' },
    teacher: { type: 'string' },
    'kd-temperature': { type: 'string' },
    'kd-weight': { type: 'string' },
  });
  const mode = choiceArg(values.mode, 'mode', TRAIN_MODES, 'an');
  if (mode === 'standard' && values.alpha !== undefined) throw new InputError('--alpha applies to --mode an, small and kd', 'alpha');
  if (mode !== 'kd' && values.teacher !== undefined) throw new InputError('--teacher applies to --mode kd only', 'teacher');
  const alpha = mode === 'standard' ? null : validateGlobalAlpha(intArg(values.alpha, 'alpha', 4));
  const settings = runSettings(values);
  const workers = workersOption(values);
  const kd =
    mode === 'kd'
      ? {
          teacherRun: teacherRunArg(values.teacher),
          temperature: numberArg(values['kd-temperature'], 'kd-temperature', DEFAULT_KD.temperature),
          weight: numberArg(values['kd-weight'], 'kd-weight', DEFAULT_KD.weight),
        }
      : null;
  // Everything is checked before the data is read and before anything is written.
  const draft: TrainConfig = { ...settings, model: draftModel(settings), mode, alpha, kd: kd === null ? null : { ...kd, teacher: 'to be resolved' } };
  validateTrainConfig(draft);

  const data = await openRunData(values, io);
  let config: TrainConfig = { ...draft, model: { ...draft.model, ...data.input } };
  if (kd !== null) config = { ...config, kd: { ...kd, teacher: teacherNetwork(values, kd.teacherRun, data.data) } };
  const hold = testHooksFromEnv(process.env)?.hold;
  return withRecordedRun(values, io, { config, data }, async (run) => {
    const outcome = await train({
      config,
      data: data.data,
      outDir: run.outDir,
      resume: values.resume === true,
      emit: run.emit,
      stopRequested: run.stopRequested,
      ...workers,
      // Tests of write failures catch the run mid-training (never set in normal use).
      ...(hold === undefined
        ? {}
        : {
            beforeStep: (step: number) => {
              if (step !== hold.atStep) return;
              run.emit({ type: 'log', time: Date.now(), level: 'info', message: heldMessage(step) });
              holdUntilReleased(hold.releaseFile);
            },
          }),
    });
    return outcome.status;
  });
}

function teacherRunArg(value: string | undefined): number {
  if (value === undefined) throw new InputError('--mode kd needs --teacher <run>: a finished standard run of the same data (see adjoin runs)', 'teacher');
  return runIdArg([value], 'train --teacher');
}

/** The teacher run's trained network, if that run is a finished standard run of these images. */
function teacherNetwork(values: { db?: string | undefined }, runId: number, data: TrainingData): string {
  const store = openExisting(values.db);
  try {
    const run = store.runs.require(runId);
    if (run.status !== 'finished' || run.outputs === null) throw new InputError(`teacher run ${runId} is ${run.status}; kd needs a finished run`, 'teacher');
    if (run.config.mode !== 'standard') {
      const what = run.kind === 'search' ? 'a DAN search' : run.config.mode === 'an' ? 'an adjoined run' : `a ${run.config.mode} run`;
      throw new InputError(`teacher run ${runId} is ${what}; kd distils the full network of a standard run`, 'teacher');
    }
    const dataset = run.datasetId === null ? null : store.datasets.get(run.datasetId);
    if (dataset !== null && dataset.contentKey !== datasetKey(data)) {
      throw new InputError(`teacher run ${runId} was trained on other images (${dataset.name}, ${dataset.path}); kd needs the same dataset`, 'teacher');
    }
    return run.outputs.network;
  } finally {
    store.close();
  }
}

export const trainCmd: Command = { name: 'train', usage: TRAIN_USAGE, run: trainCommand };
