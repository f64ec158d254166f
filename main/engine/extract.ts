import * as tf from '@tensorflow/tfjs';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { count } from '../../shared/model/selection.js';
import { smallNetworkGraph } from '../../shared/model/small-network.js';
import { sliceWeight } from './forward.js';
import { NetworkParams, makeVar, paramName } from './params.js';

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
  const sel = plan.sel;
  const copy = (name: string, from: tf.Tensor, into: Map<string, tf.Variable>, isTrainable: boolean): void => {
    into.set(
      name,
      makeVar(() => tf.clone(from), isTrainable),
    );
  };
  for (const node of graph.nodes) {
    switch (node.op) {
      case 'conv': {
        const w = params.get(paramName.weight(node.name));
        tf.tidy(() => copy(paramName.weight(node.name), sliceWeight(w, sel[node.input]!, count(sel[node.id]!)), trainable, true));
        break;
      }
      case 'bn':
        copy(paramName.gamma(node.name, 'full'), params.get(paramName.gamma(node.name, 'small')), trainable, true);
        copy(paramName.beta(node.name, 'full'), params.get(paramName.beta(node.name, 'small')), trainable, true);
        copy(paramName.mean(node.name, 'full'), params.get(paramName.mean(node.name, 'small')), running, false);
        copy(paramName.variance(node.name, 'full'), params.get(paramName.variance(node.name, 'small')), running, false);
        break;
      case 'dense': {
        const w = params.get(paramName.weight(node.name));
        tf.tidy(() => copy(paramName.weight(node.name), sliceWeight(w, sel[node.input]!, node.shape.c), trainable, true));
        copy(paramName.bias(node.name), params.get(paramName.bias(node.name)), trainable, true);
        break;
      }
      default:
        break;
    }
  }
  return { graph: smallNetworkGraph(graph, plan), params: new NetworkParams(trainable, running) };
}
