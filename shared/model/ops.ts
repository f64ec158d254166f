import { InputError } from '../errors.js';
import type { Cost } from './cost.js';
import type { GraphBuilder, GraphNode, ModelGraph } from './graph.js';
import * as sel from './selection.js';
import type { Selection } from './selection.js';

/**
 * What the model layer knows about each graph op, in one entry per op: its
 * weights and multiply-adds, which channels the small path keeps (the
 * slicing rule), and how it appears in a small network of its own. The
 * engine (forward pass, weights, soft masks, TF.js) and the ONNX exporter
 * keep tables of the same shape, so a new op is one entry in each, and the
 * compiler names any table that lacks it.
 */
export type Op = GraphNode['op'];
export type NodeOf<K extends Op> = Extract<GraphNode, { op: K }>;

/** What the slicing rule of a node may read. */
export interface SelectArgs {
  graph: ModelGraph;
  /** α per width group. */
  alphas: Readonly<Record<string, number>>;
  /** The selections of the nodes before this one. */
  sels: readonly Selection[];
}

/** What a node needs to add itself to a small network. */
export interface SmallArgs {
  builder: GraphBuilder;
  /** The small network's node id of each earlier node. */
  map: readonly number[];
  /** The small path's channel count at this node. */
  channels: number;
}

export interface ModelOpSpec<N extends GraphNode> {
  /** Weights and multiply-adds with `cin` input and `cout` output channels; null for an op with neither. */
  readonly cost: ((node: N, cin: number, cout: number) => Cost) | null;
  /** The channels of its full-width output that the small path carries. */
  select(node: N, a: SelectArgs): Selection;
  /** Adds the node, at the small path's width, to a small network of its own; returns its id there. */
  small(node: N, a: SmallArgs): number;
}

export type ModelOps = { readonly [K in Op]: ModelOpSpec<NodeOf<K>> };

/** The inputs of a node, in order. */
export function inputsOf(node: GraphNode): readonly number[] {
  return 'inputs' in node ? node.inputs : 'input' in node ? [node.input] : [];
}

/** The one input of an op that has one. */
function only(sels: readonly Selection[], i: number): Selection {
  const s = sels[i];
  if (s === undefined) throw new Error(`node ${i} has no selection yet`);
  return s;
}

function mapped(map: readonly number[], i: number): number {
  const m = map[i];
  if (m === undefined) throw new Error(`node ${i} is not in the small network yet`);
  return m;
}

/** Channel-wise ops carry their input's channels unchanged. */
const passThrough = (node: { input: number }, a: SelectArgs): Selection => only(a.sels, node.input);

export const MODEL_OPS = {
  input: {
    cost: null,
    select: (node) => sel.prefix(node.shape.c),
    small: (node, a) => a.builder.input(node.shape),
  },
  conv: {
    cost: (node, cin, cout) => {
      const k2 = node.kernel * node.kernel;
      return { params: k2 * cin * cout, macs: k2 * cin * cout * node.shape.h * node.shape.w };
    },
    select: (node, a) => {
      const alpha = node.group === null ? 1 : a.alphas[node.group];
      if (alpha === undefined) throw new Error(`no α for width group ${node.group} of ${node.name}`);
      const n = Math.floor(node.shape.c / alpha);
      if (n < 1) {
        throw new InputError(
          `α=${alpha} leaves layer ${node.name} with 0 channels in the small network (${node.shape.c} / ${alpha}); use a larger width or a smaller α`,
          'alpha',
        );
      }
      return sel.prefix(n);
    },
    small: (node, a) => a.builder.conv(node.name, mapped(a.map, node.input), a.channels, node.kernel, node.stride, node.pad, false, null),
  },
  dwconv: {
    // One k×k filter per channel: k² weights and k²·h·w multiply-adds a channel.
    cost: (node, cin) => {
      const k2 = node.kernel * node.kernel;
      return { params: k2 * cin, macs: k2 * cin * node.shape.h * node.shape.w };
    },
    // It keeps the channels of its input (the expansion's slice): it has no width of its own.
    select: passThrough,
    small: (node, a) => a.builder.dwconv(node.name, mapped(a.map, node.input), node.kernel, node.stride, node.pad),
  },
  bn: {
    cost: (_node, cin) => ({ params: 2 * cin, macs: 0 }),
    select: passThrough,
    small: (node, a) => a.builder.bn(node.name, mapped(a.map, node.input)),
  },
  relu: {
    cost: null,
    select: passThrough,
    small: (node, a) => a.builder.relu(node.name, mapped(a.map, node.input)),
  },
  relu6: {
    cost: null,
    select: passThrough,
    small: (node, a) => a.builder.relu6(node.name, mapped(a.map, node.input)),
  },
  maxpool: {
    cost: null,
    select: passThrough,
    small: (node, a) => a.builder.maxpool(node.name, mapped(a.map, node.input), node.kernel, node.stride, node.pad),
  },
  avgpool: {
    cost: null,
    select: passThrough,
    small: (node, a) => a.builder.avgpool(node.name, mapped(a.map, node.input), node.kernel, node.stride),
  },
  add: {
    cost: null,
    select: (node, a) => {
      // Residual adds join prefixes; where one side is wider (an identity
      // shortcut into a compressed first stage) it passes its leading channels.
      const [x, y] = node.inputs.map((i) => only(a.sels, i)) as [Selection, Selection];
      if (!sel.isPrefix(x) || !sel.isPrefix(y)) throw new Error(`add ${node.name}: small-path inputs are not prefixes`);
      return sel.prefix(Math.min(sel.count(x), sel.count(y)));
    },
    small: (node, a) => {
      // An identity shortcut wider than the small branch keeps its leading channels.
      const [x, y] = node.inputs.map((i) => {
        const m = mapped(a.map, i);
        return a.builder.shape(m).c > a.channels ? a.builder.slice(`${node.name}.shortcut`, m, a.channels) : m;
      }) as [number, number];
      return a.builder.add(node.name, x, y);
    },
  },
  concat: {
    cost: null,
    select: (node, a) =>
      sel.concat(
        node.inputs.map((i) => only(a.sels, i)),
        node.inputs.map((i) => a.graph.nodes[i]!.shape.c),
      ),
    small: (node, a) =>
      a.builder.concat(
        node.name,
        node.inputs.map((i) => mapped(a.map, i)),
      ),
  },
  gap: {
    cost: null,
    select: passThrough,
    small: (node, a) => a.builder.gap(node.name, mapped(a.map, node.input)),
  },
  dense: {
    cost: (_node, cin, cout) => ({ params: cin * cout + cout, macs: cin * cout }),
    select: (node) => sel.prefix(node.shape.c),
    small: (node, a) => a.builder.dense(node.name, mapped(a.map, node.input), node.shape.c),
  },
  slice: {
    cost: null,
    select: (node, a) => sel.prefix(Math.min(node.shape.c, sel.count(only(a.sels, node.input)))),
    small: (node, a) => a.builder.slice(node.name, mapped(a.map, node.input), a.channels),
  },
} satisfies ModelOps;

/**
 * The entry of a node's op. TypeScript cannot follow that `MODEL_OPS[node.op]`
 * belongs to that very node, so the pairing is asserted here, once.
 */
export function modelOp<N extends GraphNode>(node: N): ModelOpSpec<N> {
  return MODEL_OPS[node.op] as unknown as ModelOpSpec<N>;
}
