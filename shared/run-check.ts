import { validateSearchConfig, type SearchConfig } from './dan.js';
import { costReport, type CostReport } from './model/cost.js';
import { buildGraph } from './model/graph.js';
import { resolveBudget } from './search-budget.js';
import { validateTrainConfig, type TrainConfig } from './train-config.js';

/**
 * Everything a new run's config must pass, checked once where it enters (the
 * CLI's flags, the API's request): its values, then its network — building
 * the graph finds what field checks cannot, a width or an α that leaves a
 * layer without channels. Returns the cost report the check computed.
 */
export function checkTrainConfig(config: TrainConfig): CostReport {
  validateTrainConfig(config);
  return costReport(buildGraph(config.model), config.alpha);
}

/** The same for a DAN search: its values, its super-network, and a budget the space can reach. */
export function checkSearchConfig(config: SearchConfig): CostReport {
  validateSearchConfig(config);
  const report = costReport(buildGraph(config.model));
  const budget = config.budget ?? null;
  if (budget !== null) resolveBudget(config.model, config.space, { kind: 'macs', macs: budget.targetMacs });
  return report;
}
