import * as tf from '@tensorflow/tfjs';
import { assertNever } from '../../shared/errors.js';
import type { ConvNode, GraphNode, ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { count, isPrefix, type Selection } from '../../shared/model/selection.js';
import { batchNormInference, batchNormTrain } from './batch-norm.js';
import { propagateMasks } from './soft-masks.js';
import { type NetworkParams, type Path, paramName } from './params.js';

export const BN_EPSILON = 1e-5;

/**
 * How the small path runs.
 * - `sliced`: on the leading rows/columns of the shared weights — a really
 *   narrow network (AN).
 * - `masked`: at the plan's width with a soft channel mask per width group
 *   applied after each batch norm — the DAN super-network, one convolution per
 *   layer whatever the number of candidates.
 */
export type SmallPathSpec = { kind: 'sliced'; plan: SmallPlan } | { kind: 'masked'; plan: SmallPlan; masks: ReadonlyMap<string, tf.Tensor1D> };

export interface ForwardOptions {
  /** Batch statistics (true) or running statistics (false) in batch norms. */
  training: boolean;
  /** Compute the full path (false: small path only, e.g. for evaluation of the small network). */
  full?: boolean;
  small?: SmallPathSpec | null;
}

/** One batch norm's batch statistics, for the running averages after the step. */
export interface BatchStats {
  layer: string;
  path: Path;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  count: number;
}

export interface ForwardResult {
  full: tf.Tensor2D | null;
  small: tf.Tensor2D | null;
  /** Expected channel count of the small path's logits input, etc.: see `expectedMacs`. */
  stats: BatchStats[];
  /** Soft masks of the small path's tensors (masked mode only), per node. */
  masks: ReadonlyArray<tf.Tensor1D | null>;
}

export function sliceChannels(x: tf.Tensor, n: number): tf.Tensor {
  const c = x.shape[x.shape.length - 1]!;
  if (n === c) return x;
  const begin = x.shape.map(() => 0);
  const size = x.shape.map((d, i) => (i === x.shape.length - 1 ? n : d));
  return tf.slice(x, begin, size);
}

/** The rows of a [.., cin, cout] weight that a selection of input channels reads, and its first `cout` columns. */
export function sliceWeight(w: tf.Tensor, rows: Selection, cols: number): tf.Tensor {
  const r = w.rank;
  const cin = w.shape[r - 2]!;
  const cout = w.shape[r - 1]!;
  const n = count(rows);
  if (n === cin && cols === cout) return w;
  const pick = (a: number, b: number): tf.Tensor =>
    tf.slice(
      w,
      w.shape.map((_, i) => (i === r - 2 ? a : 0)),
      w.shape.map((d, i) => (i === r - 2 ? b - a : i === r - 1 ? cols : d)),
    );
  if (isPrefix(rows)) return pick(0, n);
  return tf.concat(
    rows.map(([a, b]) => pick(a, b)),
    r - 2,
  );
}

interface BnArgs {
  x: tf.Tensor4D | tf.Tensor2D;
  layer: string;
  path: Path;
  params: NetworkParams;
  training: boolean;
  stats: BatchStats[];
  /** `relu?(bn(x)·mask + residual)`: a DAN soft mask, a residual shortcut, a ReLU. */
  mask?: tf.Tensor1D | null;
  residual?: tf.Tensor | null;
  relu?: boolean;
}

function batchNorm({ x, layer, path, params, training, stats, mask = null, residual = null, relu = false }: BnArgs): tf.Tensor {
  const gamma = params.get(paramName.gamma(layer, path)) as tf.Tensor1D;
  const beta = params.get(paramName.beta(layer, path)) as tf.Tensor1D;
  if (!training) {
    const mean = params.get(paramName.mean(layer, path)) as tf.Tensor1D;
    const variance = params.get(paramName.variance(layer, path)) as tf.Tensor1D;
    return batchNormInference(x, gamma, beta, { mean, variance }, { epsilon: BN_EPSILON, mask, residual, relu });
  }
  const { y, mean, variance } = batchNormTrain(x, gamma, beta, { epsilon: BN_EPSILON, mask, residual, relu });
  stats.push({ layer, path, mean, variance, count: x.size / x.shape[x.rank - 1]! });
  return y;
}

function conv(x: tf.Tensor4D, w: tf.Tensor4D, node: ConvNode): tf.Tensor4D {
  const p = node.pad;
  const pad: tf.backend_util.ExplicitPadding = [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ];
  return tf.conv2d(x, w, node.stride, p === 0 ? 'valid' : pad);
}

function maxPool(x: tf.Tensor4D, kernel: number, stride: number, pad: number): tf.Tensor4D {
  // Inputs follow a ReLU (≥ 0), so zero padding equals torchvision's −∞ padding.
  const padded =
    pad > 0
      ? tf.pad(x, [
          [0, 0],
          [pad, pad],
          [pad, pad],
          [0, 0],
        ])
      : x;
  return tf.maxPool(padded, kernel, stride, 'valid');
}

/** Per-channel soft mask of a tensor, applied by broadcasting over the channel axis. */
function applyMask(x: tf.Tensor, mask: tf.Tensor1D | null): tf.Tensor {
  return mask === null ? x : tf.mul(x, mask);
}

/**
 * Batch norms whose output only feeds a ReLU, or only a residual add whose
 * output only feeds a ReLU, run as one fused kernel (training and inference).
 */
interface FusionPlan {
  /** bn → the relu it feeds. */
  bnRelu: Map<number, number>;
  /** add → the bn on one side, the other operand, and the relu after it. */
  addRelu: Map<number, { bn: number; other: number; relu: number }>;
  /** bn nodes computed later, at their add. */
  deferred: Set<number>;
  /** relu nodes whose value a fused kernel already produced. */
  produced: Set<number>;
}

const fusionPlans = new WeakMap<ModelGraph, FusionPlan>();

function fusionPlan(graph: ModelGraph): FusionPlan {
  const cached = fusionPlans.get(graph);
  if (cached !== undefined) return cached;
  const consumers = graph.nodes.map(() => [] as number[]);
  for (const node of graph.nodes) {
    const ins = 'inputs' in node ? node.inputs : 'input' in node ? [node.input] : [];
    for (const i of ins) consumers[i]!.push(node.id);
  }
  const only = (id: number): GraphNode | null => {
    const c = consumers[id]!;
    return c.length === 1 && id !== graph.output ? graph.nodes[c[0]!]! : null;
  };
  const plan: FusionPlan = { bnRelu: new Map(), addRelu: new Map(), deferred: new Set(), produced: new Set() };
  for (const node of graph.nodes) {
    if (node.op !== 'bn') continue;
    const next = only(node.id);
    if (next?.op === 'relu') {
      plan.bnRelu.set(node.id, next.id);
      plan.produced.add(next.id);
    } else if (next?.op === 'add' && !plan.addRelu.has(next.id)) {
      const relu = only(next.id);
      const other = next.inputs[0] === node.id ? next.inputs[1] : next.inputs[0];
      if (relu?.op === 'relu' && other !== node.id) {
        plan.addRelu.set(next.id, { bn: node.id, other, relu: relu.id });
        plan.deferred.add(node.id);
        plan.produced.add(relu.id);
      }
    }
  }
  fusionPlans.set(graph, plan);
  return plan;
}

/**
 * Runs a network graph on a batch: the full path and/or the small path. In
 * training mode, batch norms use batch statistics and report them in `stats`.
 * Call inside `tf.tidy` or a gradient function.
 */
export function forward(graph: ModelGraph, params: NetworkParams, input: tf.Tensor4D, options: ForwardOptions): ForwardResult {
  const { training } = options;
  const doFull = options.full ?? true;
  const small = options.small ?? null;
  const stats: BatchStats[] = [];
  const full: Array<tf.Tensor | null> = []; // null: not computed (path off, or deferred into a fused kernel)
  const sm: Array<tf.Tensor | null> = [];
  const masks: Array<tf.Tensor1D | null> = [];
  const sel = small?.plan.sel ?? null;
  const weights = new Map<string, tf.Tensor>();
  const weight = (name: string): tf.Tensor => {
    let w = weights.get(name);
    if (w === undefined) {
      w = params.get(name);
      weights.set(name, w);
    }
    return w;
  };

  // Fusion changes no value, only how many passes over memory a network makes.
  const fusion = fusionPlan(graph);

  const runNode = (node: GraphNode, path: Path): tf.Tensor | null => {
    const t = path === 'full' ? full : sm;
    const inp = (i: number): tf.Tensor => {
      const v = t[i];
      if (v == null) throw new Error(`${node.name} reads ${graph.nodes[i]!.name}, which was not computed`);
      return v;
    };
    switch (node.op) {
      case 'input':
        return input;
      case 'conv': {
        const w = weight(paramName.weight(node.name));
        if (path === 'full') return conv(inp(node.input) as tf.Tensor4D, w as tf.Tensor4D, node);
        const ws = sliceWeight(w, sel![node.input]!, count(sel![node.id]!));
        // Where both paths read the same tensor with the same weights (the stem
        // sees one image), the small path reuses the full path's convolution.
        if (ws === w && full[node.input] === sm[node.input] && full[node.id] != null) return full[node.id]!;
        return conv(inp(node.input) as tf.Tensor4D, ws as tf.Tensor4D, node);
      }
      case 'bn': {
        if (fusion.deferred.has(node.id)) return null;
        const relu = fusion.bnRelu.has(node.id);
        // A batch norm's shift turns masked-off zeros into β: the mask applies after it.
        const mask = path === 'small' ? (masks[node.id] ?? null) : null;
        return batchNorm({ x: inp(node.input) as tf.Tensor4D, layer: node.name, path, params, training, stats, mask, relu });
      }
      case 'relu':
        // A fused kernel upstream already applied it.
        return fusion.produced.has(node.id) ? inp(node.input) : tf.relu(inp(node.input));
      case 'maxpool':
        return maxPool(inp(node.input) as tf.Tensor4D, node.kernel, node.stride, node.pad);
      case 'avgpool':
        return tf.avgPool(inp(node.input) as tf.Tensor4D, node.kernel, node.stride, 'valid');
      case 'add': {
        const fusedAdd = fusion.addRelu.get(node.id);
        if (fusedAdd !== undefined) {
          // relu(bn(conv)·m + shortcut) in one kernel; the ReLU node passes it on.
          const bn = graph.nodes[fusedAdd.bn]!;
          if (bn.op !== 'bn') throw new Error(`fusion plan: ${bn.name} is not a batch norm`);
          const n = path === 'small' ? count(sel![node.id]!) : node.shape.c;
          const x = inp(bn.input) as tf.Tensor4D;
          const residual = sliceChannels(inp(fusedAdd.other), n);
          const mask = path === 'small' ? (masks[fusedAdd.bn] ?? null) : null;
          const otherMask = path === 'small' ? (masks[fusedAdd.other] ?? null) : null;
          const bnArgs = { x, layer: bn.name, path, params, training, stats, mask };
          if (x.shape[3] === n && mask === otherMask) return batchNorm({ ...bnArgs, residual, relu: true });
          // An identity shortcut wider than the branch, or carrying another mask:
          // the sum is narrowed and masked as an unfused add would (below).
          const sum = tf.add(sliceChannels(batchNorm(bnArgs), n), residual);
          return tf.relu(applyMask(sum, masks[node.id] ?? null));
        }
        const [a, b] = node.inputs;
        let x = inp(a);
        let y = inp(b);
        if (path === 'small') {
          const n = count(sel![node.id]!);
          x = sliceChannels(x, n);
          y = sliceChannels(y, n);
          const sum = tf.add(x, y);
          const ma = masks[a] ?? null;
          const mb = masks[b] ?? null;
          // Equal masks (a tied group) keep the sum masked; where one side is
          // unmasked (identity into a compressed first stage) mask the sum.
          return ma === mb ? sum : applyMask(sum, masks[node.id] ?? null);
        }
        return tf.add(x, y);
      }
      case 'concat':
        return tf.concat(
          node.inputs.map((i) => inp(i)),
          3,
        );
      case 'gap':
        return tf.mean(inp(node.input), [1, 2]);
      case 'dense': {
        const w = weight(paramName.weight(node.name));
        const b = weight(paramName.bias(node.name));
        const ws = path === 'full' ? w : sliceWeight(w, sel![node.input]!, node.shape.c);
        return tf.add(tf.matMul(inp(node.input) as tf.Tensor2D, ws as tf.Tensor2D), b);
      }
      case 'slice':
        return sliceChannels(inp(node.input), node.shape.c);
      default:
        return assertNever(node, 'graph node');
    }
  };

  if (small?.kind === 'masked') masks.push(...propagateMasks(graph, small.plan, small.masks));
  for (const node of graph.nodes) {
    full.push(doFull ? runNode(node, 'full') : null);
    sm.push(small !== null ? runNode(node, 'small') : null);
  }
  return {
    full: doFull ? (full[graph.output] as tf.Tensor2D) : null,
    small: small !== null ? (sm[graph.output] as tf.Tensor2D) : null,
    stats,
    masks,
  };
}

/**
 * Moves running statistics toward the batch statistics as PyTorch does
 * (momentum 0.1, unbiased variance), after a training step.
 */
export function updateRunningStats(params: NetworkParams, stats: readonly BatchStats[], momentum = 0.1): void {
  tf.tidy(() => {
    for (const s of stats) {
      const rm = params.get(paramName.mean(s.layer, s.path));
      const rv = params.get(paramName.variance(s.layer, s.path));
      const unbiased = s.count > 1 ? s.count / (s.count - 1) : 1;
      rm.assign(tf.add(tf.mul(rm, 1 - momentum), tf.mul(s.mean, momentum)));
      rv.assign(tf.add(tf.mul(rv, 1 - momentum), tf.mul(s.variance, momentum * unbiased)));
    }
  });
}
