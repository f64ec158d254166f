import { InputError } from '../../shared/errors.js';
import { parseAlphaMap } from '../../shared/search-budget.js';
import { validateGlobalAlpha } from '../../shared/model/config.js';
import { checkTrainConfig } from '../../shared/run-check.js';
import { DEFAULT_KD, TRAIN_MODES, trainConfigOf, validateTrainConfig, type KdConfig } from '../../shared/train-config.js';
import { choiceArg, intArg, numberArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { checkQueue } from '../jobs/queue/connect.js';
import { hostRun } from './hosted-run.js';
import { RUN_FLAGS, RUN_USAGE, draftModel, openRunData, queueOption, runSettings, workersOption } from './run-options.js';
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
  // A global α, or one per width group (group=α,…: a searched or random architecture, e.g. from adjoin cost --random-within).
  const alpha =
    mode === 'standard'
      ? null
      : values.alpha?.includes('=') === true
        ? parseAlphaMap(values.alpha, 'alpha')
        : validateGlobalAlpha(intArg(values.alpha, 'alpha', 4));
  const settings = runSettings(values);
  const { workers } = workersOption(values);
  const teacherRun = mode === 'kd' ? teacherRunArg(values.teacher) : null;
  const kd: KdConfig | null =
    teacherRun === null
      ? null
      : {
          teacher: 'to be resolved',
          teacherRun,
          temperature: numberArg(values['kd-temperature'], 'kd-temperature', DEFAULT_KD.temperature),
          weight: numberArg(values['kd-weight'], 'kd-weight', DEFAULT_KD.weight),
        };
  // The flags are checked before the data is read and before anything is written.
  validateTrainConfig(trainConfigOf({ ...settings, model: draftModel(settings) }, mode, alpha, kd));
  // A queue that is not there, or refuses the password, is named before the data is read.
  const onQueue = queueOption(values);
  if (onQueue !== null) await checkQueue(onQueue.queue);

  const data = await openRunData(values, io);
  const model = { ...draftModel(settings), ...data.input };
  const teacher = kd === null || teacherRun === null ? null : { ...kd, teacher: teacherNetwork(values.db, teacherRun, data.dataset.contentKey) };
  const config = trainConfigOf({ ...settings, model }, mode, alpha, teacher);
  checkTrainConfig(config);
  return hostRun(values, io, workers ?? null, {
    local: (manager, o) => manager.startTrain(data.source, config, o),
    onQueue: { data: data.source, config, dataset: data.dataset },
  });
}

function teacherRunArg(value: string | undefined): number {
  if (value === undefined) throw new InputError('--mode kd needs --teacher <run>: a finished standard run of the same data (see adjoin runs)', 'teacher');
  return runIdArg([value], 'train --teacher');
}

/** The teacher run's trained network, if that run is a finished standard run of these images. */
function teacherNetwork(db: string | undefined, runId: number, contentKey: string): string {
  const store = openExisting(db);
  try {
    const run = store.runs.require(runId);
    if (run.status !== 'finished' || run.outputs === null) throw new InputError(`teacher run ${runId} is ${run.status}; kd needs a finished run`, 'teacher');
    if (run.config.mode !== 'standard') {
      const what = run.kind === 'search' ? 'a DAN search' : run.config.mode === 'an' ? 'an adjoined run' : `a ${run.config.mode} run`;
      throw new InputError(`teacher run ${runId} is ${what}; kd distils the full network of a standard run`, 'teacher');
    }
    const dataset = run.datasetId === null ? null : store.datasets.get(run.datasetId);
    if (dataset !== null && dataset.contentKey !== contentKey) {
      throw new InputError(`teacher run ${runId} was trained on other images (${dataset.name}, ${dataset.path}); kd needs the same dataset`, 'teacher');
    }
    return run.outputs.network;
  } finally {
    store.close();
  }
}

export const trainCmd: Command = { name: 'train', usage: TRAIN_USAGE, run: trainCommand };
