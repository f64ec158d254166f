import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend.js';
import { loadNetwork } from '../bundle.js';
import { searchStep, searchStepSetupFor, type SearchStepSetup } from '../dan/search.js';
import { SearchSpace } from '../dan/search-space.js';
import { buildGraph } from '../../../shared/model/graph.js';
import { Rng } from '../rng.js';
import { stepSetupFor, trainStep, type StepSetup } from '../train.js';
import { measureBatch, shardFigures } from '../evaluate.js';
import type { EvaluationShard, FromReplica, ReplicaInit, StepShard, ToReplica } from './protocol.js';
import { ReplicaGroup } from './replica-group.js';
import { restoreState } from './replica-state.js';

/**
 * A data-parallel replica: a worker thread with its own engine that builds
 * the run's network, takes the leader's weights, then trains on the shard of
 * every batch the leader sends, meeting the others in the replica group.
 */

const port = parentPort;
if (port === null) throw new Error('replica-worker must run as a worker thread');
const init = workerData as ReplicaInit;
const group = new ReplicaGroup(init.buffer, init.layout, init.index);
const send = (m: FromReplica): void => port.postMessage(m);

type Replica =
  { kind: 'train'; setup: StepSetup; variables: Map<string, tf.Variable> } | { kind: 'search'; setup: SearchStepSetup; variables: Map<string, tf.Variable> };

function build(): Replica {
  // Weights come from the leader; the generator only gives the variables their shapes.
  const rng = new Rng(0);
  if (init.task.kind === 'train') {
    const { config } = init.task;
    // The leader has checked the teacher; a replica only needs its weights.
    const teacher = config.mode === 'kd' ? loadNetwork(config.kd.teacher) : null;
    const setup = stepSetupFor(config, rng, teacher === null ? null : { graph: teacher.graph, params: teacher.params });
    return { kind: 'train', setup, variables: setup.params.all() };
  }
  const { config } = init.task;
  const graph = buildGraph(config.model);
  const setup = searchStepSetupFor(config, graph, new SearchSpace(graph, config.space), rng);
  return { kind: 'search', setup, variables: new Map([...setup.params.all(), ...setup.space.etaVariables()]) };
}

async function step(replica: Replica, m: StepShard): Promise<void> {
  const { inputSize, channels } = replica.setup.config.model;
  const x = tf.tensor4d(m.x, [m.count, inputSize, inputSize, channels]);
  const y = tf.tensor1d(m.y, 'int32');
  const shard = { group, share: m.share };
  try {
    if (replica.kind === 'train') await trainStep(replica.setup, x, y, m.progress, m.rates, shard);
    else {
      const options = { ...(m.phase === undefined ? {} : { phase: m.phase }), ...(m.etaLr === undefined ? {} : { etaLr: m.etaLr }) };
      await searchStep(replica.setup, x, y, m.progress, m.rates, m.tau!, m.noise === null ? null : new Map(m.noise), shard, options);
    }
  } finally {
    x.dispose();
    y.dispose();
  }
}

/** This replica's shard of an evaluation batch: the same paths as the leader's, added up with its figures. */
async function evaluateShard(replica: Replica, m: EvaluationShard): Promise<void> {
  if (replica.kind === 'train') {
    const { setup } = replica;
    const small = m.small && setup.plan !== null ? { kind: 'sliced' as const, plan: setup.plan } : null;
    const measured = await measureBatch(setup, m, m.count, { full: m.full, small }, m.confusionClasses > 0);
    group.allReduce(shardFigures(measured, m.y, m.count, m.confusionClasses));
    return;
  }
  if (m.softTau === null) throw new Error('a search replica measures the soft-masked small path only');
  const { setup } = replica;
  // The leader's masks, from the same η.
  const { masks, weights } = setup.space.softMasks(m.softTau, null);
  try {
    const network = { graph: setup.graph, params: setup.params, plan: null, config: setup.config };
    const measured = await measureBatch(
      network,
      m,
      m.count,
      { full: m.full, small: { kind: 'masked', plan: setup.space.plan, masks } },
      m.confusionClasses > 0,
    );
    group.allReduce(shardFigures(measured, m.y, m.count, m.confusionClasses));
  } finally {
    tf.dispose([...masks.values(), ...weights.values()]);
  }
}

async function main(): Promise<void> {
  await initBackend(init.backend);
  const replica = build();
  const optimizers = replica.kind === 'train' ? [replica.setup.optimizer] : [replica.setup.optimizer, replica.setup.archOptimizer];
  const handle = async (m: ToReplica): Promise<void> => {
    try {
      if (m.type === 'state') restoreState(m.state, replica.variables, optimizers);
      else if (m.type === 'step') await step(replica, m);
      else if (m.type === 'evaluate') await evaluateShard(replica, m);
      else port!.close();
    } catch (e) {
      // The leader is waiting in the group: wake it with the reason rather than leave it hanging.
      const message = `training replica ${init.index} failed: ${e instanceof Error ? e.message : String(e)}`;
      group.abort(message);
      send({ type: 'failed', message });
    }
  };
  // One message at a time, in order: a step reads its results asynchronously,
  // and the next message must not start while it does.
  let queue = Promise.resolve();
  port!.on('message', (m: ToReplica) => {
    queue = queue.then(() => handle(m));
  });
  send({ type: 'ready' });
}

main().catch((e: unknown) => {
  const message = `training replica ${init.index} could not start: ${e instanceof Error ? e.message : String(e)}`;
  group.abort(message);
  send({ type: 'failed', message });
});
