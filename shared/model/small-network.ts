import { assertNever } from '../errors.js';
import { GraphBuilder, type ModelGraph } from './graph.js';
import type { SmallPlan } from './plan.js';
import { count } from './selection.js';

/**
 * The small network of a plan as a plain network of its own: each conv as
 * wide as the small path's, concatenations of the small pieces, and identity
 * shortcuts that fed a narrower add keeping their leading channels. Layer
 * names are the full network's, so weights carry over by name. What `small`
 * and `kd` runs train, and what `extractSmall` fills with an adjoined
 * network's weights.
 */
export function smallNetworkGraph(graph: ModelGraph, plan: SmallPlan): ModelGraph {
  const b = new GraphBuilder(graph.config);
  const map: number[] = [];
  for (const node of graph.nodes) {
    const n = count(plan.sel[node.id]!);
    switch (node.op) {
      case 'input':
        map.push(b.input(node.shape));
        break;
      case 'conv':
        map.push(b.conv(node.name, map[node.input]!, n, node.kernel, node.stride, node.pad, false, null));
        break;
      case 'bn':
        map.push(b.bn(node.name, map[node.input]!));
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
      case 'dense':
        map.push(b.dense(node.name, map[node.input]!, node.shape.c));
        break;
      case 'slice':
        map.push(b.slice(node.name, map[node.input]!, n));
        break;
      default:
        assertNever(node, 'graph node');
    }
  }
  return b.finish(map[graph.output]!);
}
