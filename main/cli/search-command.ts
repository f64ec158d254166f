import { DEFAULT_ARCH_LR, DEFAULT_TAU, parseSpace, validateSearchConfig, type SearchConfig } from '../../shared/dan.js';
import { InputError } from '../../shared/errors.js';
import { checkSearchConfig } from '../../shared/run-check.js';
import { choiceArg, numberArg, optionalIntArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { RemoteRuns } from '../jobs/host/queue/remote-runs.js';
import { checkQueue } from '../jobs/queue/connect.js';
import { hostRun } from './hosted-run.js';
import { RUN_FLAGS, RUN_USAGE, draftModel, openRunData, queueOption, runSettings, workersOption } from './run-options.js';

const SEARCH_USAGE = `adjoin search --data <dir|idx folder|synthetic> --arch resnet18 --space 1,2,4,8,16 --gamma 1 --epochs N [--then-train M] [--json]
             [--gamma-raw X] [--tau 15] [--tau-decay 0.045] [--arch-lr 0.01] [--noise fresh|fixed]
             ${RUN_USAGE}
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
  if (values.gamma !== undefined && values['gamma-raw'] !== undefined) {
    throw new InputError('give --gamma or --gamma-raw, not both', 'gamma');
  }
  const settings = runSettings(values);
  const { workers } = workersOption(values);
  const thenTrain = optionalIntArg(values['then-train'], 'then-train');
  const draft: SearchConfig = {
    ...settings,
    model: draftModel(settings),
    space: parseSpace(values.space ?? '1,2,4,8,16'),
    gamma: numberArg(values.gamma, 'gamma', 1),
    archLr: numberArg(values['arch-lr'], 'arch-lr', DEFAULT_ARCH_LR),
    tau: { initial: numberArg(values.tau, 'tau', DEFAULT_TAU.initial), decay: numberArg(values['tau-decay'], 'tau-decay', DEFAULT_TAU.decay) },
    noise: choiceArg(values.noise, 'noise', ['fresh', 'fixed'] as const, 'fresh'),
  };
  // The flags are checked before the data is read and before anything is written.
  validateSearchConfig(draft);
  // A queue that is not there, or refuses the password, is named before the data is read.
  const onQueue = queueOption(values);
  if (onQueue !== null) await checkQueue(onQueue.queue);

  const data = await openRunData(values, io);
  let config: SearchConfig = { ...draft, model: { ...draft.model, ...data.input } };
  const { full } = checkSearchConfig(config);
  // The paper's γ multiplies raw MACs; ours multiplies MACs / full MACs.
  if (values['gamma-raw'] !== undefined) config = validateSearchConfig({ ...config, gamma: numberArg(values['gamma-raw'], 'gamma-raw', 0) * full.macs });
  return hostRun(values, io, workers ?? null, {
    local: (manager, o) => manager.startSearch(data.source, config, thenTrain, o),
    onQueue: { data: data.source, dataset: data.dataset, ...RemoteRuns.searchRecord(config, thenTrain) },
  });
}

export const searchCmd: Command = { name: 'search', usage: SEARCH_USAGE, run: searchCommand };
