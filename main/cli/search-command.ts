import { budgetedSearch, DEFAULT_ARCH_LR, DEFAULT_TAU, parseSpace, validateSearchConfig, type SearchConfig } from '../../shared/dan.js';
import { InputError } from '../../shared/errors.js';
import { checkSearchConfig } from '../../shared/run-check.js';
import { formatMacs, parseMacs, resolveBudget, type BudgetRequest } from '../../shared/search-budget.js';
import { choiceArg, intArg, numberArg, optionalIntArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { RemoteRuns } from '../jobs/host/queue/remote-runs.js';
import { checkQueue } from '../jobs/queue/connect.js';
import { hostRun } from './hosted-run.js';
import { RUN_FLAGS, RUN_USAGE, draftModel, openRunData, queueOption, runSettings, workersOption } from './run-options.js';

const SEARCH_USAGE = `adjoin search --data <dir|idx folder|synthetic> --arch resnet18 --space 1,2,4,8,16 --epochs N [--then-train M] [--json]
             [--target-macs 8.8M | --target-ratio 0.31 | --match-alpha 4 | --gamma 1 | --gamma-raw X] [--budget-weight 2]
             [--tau-schedule progress|paper] [--tau-start 5] [--tau-end 0.2] [--tau 15] [--tau-decay 0.045] [--arch-lr X] [--noise fresh|fixed]
             ${RUN_USAGE}
  DAN: searches an α per width group, then (--then-train M) trains the found network adjoinedly for M epochs.
  By default it searches under a MACs budget (--match-alpha 4 unless --target-macs or --target-ratio says otherwise):
  the feasible range is printed first; a quarter of the steps warm the weights up, then weight steps on the training
  images alternate with η steps on a held-out fifth, τ falls from --tau-start to --tau-end, and the argmax is
  projected onto the budget (±2 %). --gamma (or --gamma-raw, the paper's γ on raw MACs) is the paper's mode instead:
  one joint step per batch, τ by epoch (--tau, --tau-decay), no budget.`;

/** Which budget flag was given, if any; more than one is an error. */
function budgetRequest(values: Record<string, string | boolean | undefined>): BudgetRequest | null {
  const given = (['target-macs', 'target-ratio', 'match-alpha'] as const).filter((f) => values[f] !== undefined);
  if (given.length > 1) throw new InputError(`give one budget: --${given.join(' or --')}, not both`, given[1]!);
  const str = (f: string): string | undefined => (typeof values[f] === 'string' ? values[f] : undefined);
  if (str('target-macs') !== undefined) return { kind: 'macs', macs: parseMacs(str('target-macs')!, 'target-macs') };
  if (str('target-ratio') !== undefined) return { kind: 'ratio', ratio: numberArg(str('target-ratio'), 'target-ratio', 0) };
  if (str('match-alpha') !== undefined) return { kind: 'alpha', alpha: intArg(str('match-alpha'), 'match-alpha', 0) };
  return null;
}

export async function searchCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    ...RUN_FLAGS,
    space: { type: 'string' },
    gamma: { type: 'string' },
    'gamma-raw': { type: 'string' },
    'target-macs': { type: 'string' },
    'target-ratio': { type: 'string' },
    'match-alpha': { type: 'string' },
    'budget-weight': { type: 'string' },
    tau: { type: 'string' },
    'tau-decay': { type: 'string' },
    'tau-schedule': { type: 'string' },
    'tau-start': { type: 'string' },
    'tau-end': { type: 'string' },
    'arch-lr': { type: 'string' },
    noise: { type: 'string' },
    'then-train': { type: 'string' },
  });
  if (values.gamma !== undefined && values['gamma-raw'] !== undefined) {
    throw new InputError('give --gamma or --gamma-raw, not both', 'gamma');
  }
  const paperMode = values.gamma !== undefined || values['gamma-raw'] !== undefined;
  const asked = budgetRequest(values);
  if (paperMode && asked !== null) {
    throw new InputError(
      '--gamma is the paper’s mode, without a budget: give --gamma or a budget (--target-macs, --target-ratio, --match-alpha), not both',
      'gamma',
    );
  }
  if (paperMode && values['budget-weight'] !== undefined) throw new InputError('--budget-weight needs a budget, not --gamma', 'budget-weight');
  const request: BudgetRequest | null = paperMode ? null : (asked ?? { kind: 'alpha', alpha: 4 });
  const settings = runSettings(values);
  const { workers } = workersOption(values);
  const thenTrain = optionalIntArg(values['then-train'], 'then-train');
  const paper: SearchConfig = {
    ...settings,
    model: draftModel(settings),
    space: parseSpace(values.space ?? '1,2,4,8,16'),
    gamma: numberArg(values.gamma, 'gamma', 1),
    archLr: numberArg(values['arch-lr'], 'arch-lr', DEFAULT_ARCH_LR),
    tau: { initial: numberArg(values.tau, 'tau', DEFAULT_TAU.initial), decay: numberArg(values['tau-decay'], 'tau-decay', DEFAULT_TAU.decay) },
    noise: choiceArg(values.noise, 'noise', ['fresh', 'fixed'] as const, 'fresh'),
  };
  const draft = withSchedule(request === null ? paper : withBudget(paper, 1, values), values);
  // The flags are checked before the data is read and before anything is written.
  validateSearchConfig(draft);
  // A queue that is not there, or refuses the password, is named before the data is read.
  const onQueue = queueOption(values);
  if (onQueue !== null) await checkQueue(onQueue.queue);

  const data = await openRunData(values, io);
  let config: SearchConfig = { ...draft, model: { ...draft.model, ...data.input } };
  if (request !== null && config.budget != null) {
    // MACs depend on the input size, known once the data is open.
    const { targetMacs, feasible } = resolveBudget(config.model, config.space, request);
    config = { ...config, budget: { ...config.budget, targetMacs } };
    const times = (m: number): string => `${(feasible.full / m).toFixed(2)}× fewer than full`;
    io.err(
      `Feasible small-network MACs for α in {${config.space.join(', ')}}: ${formatMacs(feasible.min)} (${times(feasible.min)}) … ${formatMacs(feasible.max)} (${times(feasible.max)}); target ${formatMacs(targetMacs)} (${times(targetMacs)})\n`,
    );
  }
  const { full } = checkSearchConfig(config);
  // The paper's γ multiplies raw MACs; ours multiplies MACs / full MACs.
  if (values['gamma-raw'] !== undefined) config = validateSearchConfig({ ...config, gamma: numberArg(values['gamma-raw'], 'gamma-raw', 0) * full.macs });
  return hostRun(values, io, workers ?? null, {
    local: (manager, o) => manager.startSearch(data.source, config, thenTrain, o),
    onQueue: { data: data.source, dataset: data.dataset, ...RemoteRuns.searchRecord(config, thenTrain) },
  });
}

type Values = Record<string, string | boolean | undefined>;
const flag = (values: Values, f: string): string | undefined => (typeof values[f] === 'string' ? values[f] : undefined);

/** The budgeted mode's settings (the target is filled in once the data is open); an explicit --arch-lr replaces η's travel. */
function withBudget(c: SearchConfig, targetMacs: number, values: Values): SearchConfig {
  const budgeted = budgetedSearch(targetMacs);
  const weight = numberArg(flag(values, 'budget-weight'), 'budget-weight', budgeted.budget.weight);
  return { ...c, ...budgeted, budget: { ...budgeted.budget, weight }, etaTravel: flag(values, 'arch-lr') === undefined ? budgeted.etaTravel : null };
}

/** --tau-schedule, --tau-start and --tau-end over the mode's defaults. */
function withSchedule(c: SearchConfig, values: Values): SearchConfig {
  const schedule = choiceArg(flag(values, 'tau-schedule'), 'tau-schedule', ['paper', 'progress'] as const, c.tauSchedule ?? 'paper');
  const range = c.tauRange ?? budgetedSearch(1).tauRange;
  const tauRange = { start: numberArg(flag(values, 'tau-start'), 'tau-start', range.start), end: numberArg(flag(values, 'tau-end'), 'tau-end', range.end) };
  if (schedule === 'paper' && (flag(values, 'tau-start') !== undefined || flag(values, 'tau-end') !== undefined)) {
    throw new InputError('--tau-start and --tau-end belong to --tau-schedule progress; the paper’s schedule takes --tau and --tau-decay', 'tau-schedule');
  }
  return schedule === 'paper' ? { ...c, tauSchedule: 'paper' } : { ...c, tauSchedule: 'progress', tauRange };
}

export const searchCmd: Command = { name: 'search', usage: SEARCH_USAGE, run: searchCommand };
