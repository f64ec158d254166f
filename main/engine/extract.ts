import * as tf from '@tensorflow/tfjs';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { smallNetworkGraph } from '../../shared/model/small-network.js';
import { engineOp } from './ops.js';
import { NetworkParams, makeVar } from './params.js';

export interface ExtractedNetwork {
  /** A plain network: no adjoined layers, no masks, no unused channels. */
  graph: ModelGraph;
  params: NetworkParams;
}

/**
 * Builds the small network as a standalone dense network: each conv keeps the
 * rows and columns the small path used, each batch norm becomes the small
 * path's own, and identity shortcuts that fed a narrower add keep their
 * leading channels. Run in standard mode it computes exactly the small path.
 */
export function extractSmall(graph: ModelGraph, plan: SmallPlan, params: NetworkParams): ExtractedNetwork {
  const trainable = new Map<string, tf.Variable>();
  const running = new Map<string, tf.Variable>();
  const copy = (name: string, from: tf.Tensor, isTrainable: boolean): void => {
    (isTrainable ? trainable : running).set(
      name,
      makeVar(() => tf.clone(from), isTrainable),
    );
  };
  for (const node of graph.nodes) engineOp(node).extract(node, { sel: plan.sel, from: params, copy });
  return { graph: smallNetworkGraph(graph, plan), params: new NetworkParams(trainable, running) };
}
