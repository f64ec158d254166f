import { join } from 'node:path';
import { DEFAULT_ARCH_LR, DEFAULT_TAU, parseSpace, validateSearchConfig, type SearchConfig } from '../../shared/dan.js';
import { InputError } from '../../shared/errors.js';
import { costReport } from '../../shared/model/cost.js';
import { buildGraph } from '../../shared/model/graph.js';
import type { TrainConfig } from '../../shared/train-config.js';
import { search } from '../engine/dan/search.js';
import { loadTrainingData } from '../engine/data/load.js';
import { train, type StopRequest } from '../engine/train.js';
import { choiceArg, intArg, numberArg, optionalIntArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { ProgressPrinter } from './progress.js';
import { RUN_FLAGS, outputFolder, runSettings } from './run-options.js';

const SEARCH_USAGE = `adjoin search --data <dir|idx folder|synthetic> --arch resnet18 --space 1,2,4,8,16 --gamma 1 --epochs N [--then-train M] [--json]
             [--gamma-raw X] [--tau 15] [--tau-decay 0.045] [--arch-lr 0.01] [--noise fresh|fixed]
             [--width W] [--stem cifar|imagenet] [--batch B] [--limit-train N] [--out DIR] [--resume] …(train's options)
  DAN: searches an α per width group, then (--then-train M) trains the found network adjoinedly for M epochs.
  γ weighs expected small-network MACs / full-network MACs; --gamma-raw takes the paper's γ on raw MACs instead.`;

export async function searchCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    ...RUN_FLAGS,
    space: { type: 'string' },
    gamma: { type: 'string' },
    'gamma-raw': { type: 'string' },
    tau: { type: 'string' },
    'tau-decay': { type: 'string' },
    'arch-lr': { type: 'string' },
    noise: { type: 'string' },
    'then-train': { type: 'string' },
  });
  if (values.data === undefined) throw new InputError('--data is required (a dataset folder, an IDX folder or synthetic)', 'data');
  if (values.gamma !== undefined && values['gamma-raw'] !== undefined) {
    throw new InputError('give --gamma or --gamma-raw, not both', 'gamma');
  }
  const settings = runSettings(values);
  const space = parseSpace(values.space ?? '1,2,4,8,16');
  const thenTrain = optionalIntArg(values['then-train'], 'then-train');
  const outDir = outputFolder(values, `${settings.model.arch}-dan`);
  const limitTrain = optionalIntArg(values['limit-train'], 'limit-train');
  const limitVal = optionalIntArg(values['limit-val'], 'limit-val');
  const draft: SearchConfig = {
    model: { ...settings.model, inputSize: 32, channels: 3, classes: 10 },
    space,
    gamma: numberArg(values.gamma, 'gamma', 1),
    epochs: settings.epochs,
    batchSize: settings.batchSize,
    optimizer: settings.optimizer,
    schedule: settings.schedule,
    archLr: numberArg(values['arch-lr'], 'arch-lr', DEFAULT_ARCH_LR),
    loss: settings.loss,
    tau: { initial: numberArg(values.tau, 'tau', DEFAULT_TAU.initial), decay: numberArg(values['tau-decay'], 'tau-decay', DEFAULT_TAU.decay) },
    noise: choiceArg(values.noise, 'noise', ['fresh', 'fixed'] as const, 'fresh'),
    augmentation: settings.augmentation,
    seed: settings.seed,
    checkpointEvery: settings.checkpointEvery,
  };
  validateSearchConfig(draft);
  if (thenTrain !== null) intArg(values['then-train'], 'then-train', 1);

  const data = loadTrainingData(values.data, { limitTrain, limitVal });
  if (data.height !== data.width) throw new InputError(`${values.data} has ${data.height}×${data.width} images; training needs square images`, 'data');
  const model = { ...draft.model, inputSize: data.height, channels: (data.channels === 1 ? 1 : 3) as 1 | 3, classes: data.classes.length };
  let config: SearchConfig = { ...draft, model };
  if (values['gamma-raw'] !== undefined) {
    // The paper's γ multiplies raw MACs; ours multiplies MACs / full MACs.
    config = { ...config, gamma: numberArg(values['gamma-raw'], 'gamma-raw', 0) * costReport(buildGraph(model)).full.macs };
    validateSearchConfig(config);
  }

  const json = values.json === true;
  const printer = new ProgressPrinter(io.err, io.errIsTty);
  let stop: StopRequest | null = null;
  io.onInterrupt(() => {
    stop = 'checkpoint-and-stop';
  });
  const emit = json ? (e: object): void => io.out(JSON.stringify(e)) : printer.handle.bind(printer);
  const found = await search({
    config,
    data,
    outDir: join(outDir, 'search'),
    resume: values.resume === true,
    emit,
    stopRequested: () => stop,
  });
  if (found.status === 'cancelled') return 130;
  if (found.status === 'failed') return 1;
  if (thenTrain === null) return 0;

  const trainConfig: TrainConfig = {
    model,
    mode: 'an',
    alpha: found.alphas,
    epochs: thenTrain,
    batchSize: config.batchSize,
    optimizer: config.optimizer,
    schedule: config.schedule,
    loss: config.loss,
    augmentation: config.augmentation,
    seed: config.seed,
    checkpointEvery: config.checkpointEvery,
  };
  const outcome = await train({ config: trainConfig, data, outDir: join(outDir, 'train'), emit, stopRequested: () => stop });
  return outcome.status === 'finished' ? 0 : outcome.status === 'cancelled' ? 130 : 1;
}

export const searchCmd: Command = { name: 'search', usage: SEARCH_USAGE, run: searchCommand };
