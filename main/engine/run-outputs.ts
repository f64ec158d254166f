import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DataInfo, EpochEvent, PathMetrics, RunOutputs } from '../../shared/events.js';
import type { CostReport } from '../../shared/model/cost.js';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { RUN_FILES } from '../../shared/run-files.js';
import type { TrainConfig } from '../../shared/train-config.js';
import { saveNetwork } from './bundle.js';
import { extractSmall } from './extract.js';
import { saveLayersModel, toLayersModel } from './layers-model.js';
import type { NetworkParams } from './params.js';

/** What a finished run's files are made of. */
export interface TrainedRun {
  config: TrainConfig;
  graph: ModelGraph;
  plan: SmallPlan | null;
  smallOnly: boolean;
  params: NetworkParams;
  cost: CostReport;
}

/** What a bundle's `kind` says about its network: how a teacher check and an export read it. */
function bundleKind(run: TrainedRun): string {
  if (run.smallOnly) return run.config.mode;
  return run.plan === null ? 'standard' : 'adjoined';
}

/**
 * Writes a finished run's files: the trained network, the extracted small
 * network (an Adjoin bundle and a TF.js layers model) and `run.json`.
 */
export async function writeRunOutputs(
  outDir: string,
  run: TrainedRun,
  info: DataInfo,
  summary: { history: EpochEvent[]; val: { full: PathMetrics | null; small: PathMetrics | null }; confusion: number[][] },
): Promise<RunOutputs> {
  const meta = { config: run.config, data: info, cost: run.cost };
  const network = join(outDir, RUN_FILES.network);
  await saveNetwork(network, run.graph, run.params, { ...meta, kind: bundleKind(run) });
  const tfjs = join(outDir, RUN_FILES.smallTfjs);
  let small: RunOutputs['small'] = null;
  if (run.smallOnly) {
    // The trained network is the small one itself.
    const model = toLayersModel(run.graph, run.params);
    await saveLayersModel(model, tfjs);
    model.dispose();
    small = { bundle: network, tfjs };
  } else if (run.plan !== null) {
    const extracted = extractSmall(run.graph, run.plan, run.params);
    try {
      const bundle = join(outDir, RUN_FILES.small);
      await saveNetwork(bundle, extracted.graph, extracted.params, { ...meta, kind: 'extracted-small' });
      const model = toLayersModel(extracted.graph, extracted.params);
      await saveLayersModel(model, tfjs);
      model.dispose();
      small = { bundle, tfjs };
    } finally {
      extracted.params.dispose();
    }
  }
  const file = join(outDir, RUN_FILES.summary);
  writeFileSync(file, JSON.stringify({ ...meta, ...summary }, null, 2));
  return { network, small, summary: file };
}
