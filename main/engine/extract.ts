import * as tf from '@tensorflow/tfjs';
import { assertNever } from '../../shared/errors.js';
import { GraphBuilder, type ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { count } from '../../shared/model/selection.js';
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
  const b = new GraphBuilder(graph.config);
  const map: number[] = [];
  const trainable = new Map<string, tf.Variable>();
  const running = new Map<string, tf.Variable>();
  const sel = plan.sel;
  const copy = (name: string, from: tf.Tensor, into: Map<string, tf.Variable>, isTrainable: boolean): void => {
    into.set(name, makeVar(() => tf.clone(from), isTrainable));
  };
  for (const node of graph.nodes) {
    const n = count(sel[node.id]!);
    switch (node.op) {
      case 'input':
        map.push(b.input(node.shape));
        break;
      case 'conv': {
        map.push(b.conv(node.name, map[node.input]!, n, node.kernel, node.stride, node.pad, false, null));
        const w = params.get(paramName.weight(node.name));
        tf.tidy(() => copy(paramName.weight(node.name), sliceWeight(w, sel[node.input]!, n), trainable, true));
        break;
      }
      case 'bn':
        map.push(b.bn(node.name, map[node.input]!));
        copy(paramName.gamma(node.name, 'full'), params.get(paramName.gamma(node.name, 'small')), trainable, true);
        copy(paramName.beta(node.name, 'full'), params.get(paramName.beta(node.name, 'small')), trainable, true);
        copy(paramName.mean(node.name, 'full'), params.get(paramName.mean(node.name, 'small')), running, false);
        copy(paramName.variance(node.name, 'full'), params.get(paramName.variance(node.name, 'small')), running, false);
        break;
      case 'relu':
        map.push(b.relu(node.name, map[node.input]!));
        break;
      case 'maxpool':
        map.push(b.maxpool(node.name, map[node.input]!, node.kernel, node.stride, node.pad));
        break;
      case 'avgpool':
        map.push(b.avgpool(node.name, map[node.input]!, node.kernel, node.stride));
        break;
      case 'add': {
        const [x, y] = node.inputs.map((i) => {
          const m = map[i]!;
          return b.shape(m).c > n ? b.slice(`${node.name}.shortcut`, m, n) : m;
        });
        map.push(b.add(node.name, x!, y!));
        break;
      }
      case 'concat':
        map.push(
          b.concat(
            node.name,
            node.inputs.map((i) => map[i]!),
          ),
        );
        break;
      case 'gap':
        map.push(b.gap(node.name, map[node.input]!));
        break;
      case 'dense': {
        map.push(b.dense(node.name, map[node.input]!, node.shape.c));
        const w = params.get(paramName.weight(node.name));
        tf.tidy(() => copy(paramName.weight(node.name), sliceWeight(w, sel[node.input]!, node.shape.c), trainable, true));
        copy(paramName.bias(node.name), params.get(paramName.bias(node.name)), trainable, true);
        break;
      }
      case 'slice':
        map.push(b.slice(node.name, map[node.input]!, n));
        break;
      default:
        assertNever(node, 'graph node');
    }
  }
  return { graph: b.finish(map[graph.output]!), params: new NetworkParams(trainable, running) };
}
