import { InputError, assertNever } from '../errors.js';
import { type ModelConfig, validateModelConfig } from './config.js';

export interface Shape {
  h: number;
  w: number;
  c: number;
}

interface Base {
  /** Index of the node in `ModelGraph.nodes`; inputs always point backwards. */
  id: number;
  /** Stable, human-readable name; parameters are keyed by it. */
  name: string;
  shape: Shape;
}

export interface InputNode extends Base {
  op: 'input';
}
export interface ConvNode extends Base {
  op: 'conv';
  input: number;
  kernel: number;
  stride: number;
  /** Symmetric zero padding, as torchvision pads. */
  pad: number;
  /**
   * Adjoined convs give the small path the first cout/α output channels of the
   * shared weights; the others (stem, and the first stage unless compressed)
   * run at full width in both paths.
   */
  adjoined: boolean;
  /** Width group for per-group α (DAN); null when not adjoined. */
  group: string | null;
}
/**
 * A depthwise convolution: one k×k filter per channel (channel multiplier 1),
 * as MobileNetV2's. It has no width of its own: its small path keeps the
 * channels its input's small path carries (the expansion's slice).
 */
export interface DepthwiseNode extends Base {
  op: 'dwconv';
  input: number;
  kernel: number;
  stride: number;
  /** Symmetric zero padding, as torchvision pads. */
  pad: number;
}
export interface BatchNormNode extends Base {
  op: 'bn';
  input: number;
}
export interface ReluNode extends Base {
  op: 'relu';
  input: number;
}
/** min(max(x, 0), 6), MobileNetV2's activation. */
export interface Relu6Node extends Base {
  op: 'relu6';
  input: number;
}
export interface MaxPoolNode extends Base {
  op: 'maxpool';
  input: number;
  kernel: number;
  stride: number;
  pad: number;
}
export interface AvgPoolNode extends Base {
  op: 'avgpool';
  input: number;
  kernel: number;
  stride: number;
}
export interface AddNode extends Base {
  op: 'add';
  inputs: readonly [number, number];
}
export interface ConcatNode extends Base {
  op: 'concat';
  inputs: readonly number[];
}
/** Global average pooling to a feature vector (shape h = w = 1). */
export interface GlobalPoolNode extends Base {
  op: 'gap';
  input: number;
}
export interface DenseNode extends Base {
  op: 'dense';
  input: number;
}
/**
 * Keeps the leading `shape.c` channels. Only extracted small networks have it:
 * an identity shortcut into a compressed first stage passes its leading channels.
 */
export interface SliceNode extends Base {
  op: 'slice';
  input: number;
}

export type GraphNode =
  | InputNode
  | ConvNode
  | DepthwiseNode
  | BatchNormNode
  | ReluNode
  | Relu6Node
  | MaxPoolNode
  | AvgPoolNode
  | AddNode
  | ConcatNode
  | GlobalPoolNode
  | DenseNode
  | SliceNode;

export interface ModelGraph {
  config: ModelConfig;
  nodes: readonly GraphNode[];
  output: number;
  /** Width groups in network order (the DAN search space). */
  groups: readonly string[];
}

function convOut(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/** Accumulates nodes with shape inference. Every builder below goes through it. */
export class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly groups: string[] = [];

  constructor(readonly config: ModelConfig) {}

  shape(id: number): Shape {
    return this.nodes[id]!.shape;
  }

  private push<N extends GraphNode>(node: Omit<N, 'id'>): number {
    const id = this.nodes.length;
    this.nodes.push({ ...node, id } as unknown as GraphNode);
    return id;
  }

  input(shape: Shape): number {
    return this.push<InputNode>({ op: 'input', name: 'input', shape });
  }

  conv(name: string, input: number, cout: number, kernel: number, stride: number, pad: number, adjoined: boolean, group: string | null): number {
    const s = this.shape(input);
    if (cout < 1) {
      throw new InputError(`width ${this.config.width} leaves layer ${name} with 0 channels`, 'width');
    }
    const h = convOut(s.h, kernel, stride, pad);
    const w = convOut(s.w, kernel, stride, pad);
    if (h < 1 || w < 1) {
      throw new InputError(`input size ${this.config.inputSize} is too small: layer ${name} would have no pixels`, 'inputSize');
    }
    const g = adjoined ? group : null;
    if (g !== null && !this.groups.includes(g)) this.groups.push(g);
    return this.push<ConvNode>({ op: 'conv', name, input, kernel, stride, pad, adjoined, group: g, shape: { h, w, c: cout } });
  }

  dwconv(name: string, input: number, kernel: number, stride: number, pad: number): number {
    const s = this.shape(input);
    const h = convOut(s.h, kernel, stride, pad);
    const w = convOut(s.w, kernel, stride, pad);
    if (h < 1 || w < 1) {
      throw new InputError(`input size ${this.config.inputSize} is too small: layer ${name} would have no pixels`, 'inputSize');
    }
    return this.push<DepthwiseNode>({ op: 'dwconv', name, input, kernel, stride, pad, shape: { h, w, c: s.c } });
  }

  bn(name: string, input: number): number {
    return this.push<BatchNormNode>({ op: 'bn', name, input, shape: this.shape(input) });
  }

  relu(name: string, input: number): number {
    return this.push<ReluNode>({ op: 'relu', name, input, shape: this.shape(input) });
  }

  relu6(name: string, input: number): number {
    return this.push<Relu6Node>({ op: 'relu6', name, input, shape: this.shape(input) });
  }

  maxpool(name: string, input: number, kernel: number, stride: number, pad: number): number {
    const s = this.shape(input);
    const shape = { h: convOut(s.h, kernel, stride, pad), w: convOut(s.w, kernel, stride, pad), c: s.c };
    if (shape.h < 1 || shape.w < 1) {
      throw new InputError(`input size ${this.config.inputSize} is too small: ${name} would have no pixels`, 'inputSize');
    }
    return this.push<MaxPoolNode>({ op: 'maxpool', name, input, kernel, stride, pad, shape });
  }

  avgpool(name: string, input: number, kernel: number, stride: number): number {
    const s = this.shape(input);
    const shape = { h: convOut(s.h, kernel, stride, 0), w: convOut(s.w, kernel, stride, 0), c: s.c };
    if (shape.h < 1 || shape.w < 1) {
      throw new InputError(`input size ${this.config.inputSize} is too small: ${name} would have no pixels`, 'inputSize');
    }
    return this.push<AvgPoolNode>({ op: 'avgpool', name, input, kernel, stride, shape });
  }

  add(name: string, a: number, b: number): number {
    const sa = this.shape(a);
    const sb = this.shape(b);
    if (sa.h !== sb.h || sa.w !== sb.w || sa.c !== sb.c) {
      throw new Error(`add ${name}: shapes differ (${JSON.stringify(sa)} vs ${JSON.stringify(sb)})`);
    }
    return this.push<AddNode>({ op: 'add', name, inputs: [a, b], shape: sa });
  }

  concat(name: string, inputs: readonly number[]): number {
    const first = this.shape(inputs[0]!);
    const c = inputs.reduce((n, i) => n + this.shape(i).c, 0);
    return this.push<ConcatNode>({ op: 'concat', name, inputs, shape: { h: first.h, w: first.w, c } });
  }

  gap(name: string, input: number): number {
    return this.push<GlobalPoolNode>({ op: 'gap', name, input, shape: { h: 1, w: 1, c: this.shape(input).c } });
  }

  dense(name: string, input: number, units: number): number {
    return this.push<DenseNode>({ op: 'dense', name, input, shape: { h: 1, w: 1, c: units } });
  }

  slice(name: string, input: number, channels: number): number {
    const s = this.shape(input);
    return this.push<SliceNode>({ op: 'slice', name, input, shape: { ...s, c: channels } });
  }

  finish(output: number): ModelGraph {
    return { config: this.config, nodes: this.nodes, output, groups: this.groups };
  }
}

/** Channel count of a published layer scaled by the width multiplier. */
export function scaled(channels: number, width: number): number {
  return Math.round(channels * width);
}

interface ResNetSpec {
  blocks: readonly [number, number, number, number];
  bottleneck: boolean;
}

const RESNETS: Record<'resnet18' | 'resnet34' | 'resnet50' | 'resnet100', ResNetSpec> = {
  resnet18: { blocks: [2, 2, 2, 2], bottleneck: false },
  resnet34: { blocks: [3, 4, 6, 3], bottleneck: false },
  resnet50: { blocks: [3, 4, 6, 3], bottleneck: true },
  // The paper's ResNet-100 (appendix C): ResNet-50's bottleneck with 6, 8, 12, 6 blocks.
  resnet100: { blocks: [6, 8, 12, 6], bottleneck: true },
};

function stem(b: GraphBuilder, x: number, channels: number): number {
  const { stem } = b.config;
  switch (stem) {
    case 'cifar': {
      const c = b.conv('stem.conv', x, channels, 3, 1, 1, false, null);
      return b.relu('stem.relu', b.bn('stem.bn', c));
    }
    case 'imagenet': {
      const c = b.conv('stem.conv', x, channels, 7, 2, 3, false, null);
      const r = b.relu('stem.relu', b.bn('stem.bn', c));
      return b.maxpool('stem.pool', r, 3, 2, 1);
    }
    default:
      return assertNever(stem, 'stem');
  }
}

function buildResNet(config: ModelConfig, spec: ResNetSpec): ModelGraph {
  const b = new GraphBuilder(config);
  const w = config.width;
  let x = b.input({ h: config.inputSize, w: config.inputSize, c: config.channels });
  x = stem(b, x, scaled(64, w));
  const expansion = spec.bottleneck ? 4 : 1;
  for (let s = 0; s < 4; s++) {
    const planes = scaled(64 * 2 ** s, w);
    const adjoined = s > 0 || config.compressFirstStage;
    const stage = `s${s + 1}`;
    const tied = `${stage}.out`;
    for (let k = 0; k < spec.blocks[s]!; k++) {
      const p = `${stage}.b${k + 1}`;
      const stride = s > 0 && k === 0 ? 2 : 1;
      const cin = b.shape(x).c;
      let y: number;
      if (spec.bottleneck) {
        y = b.relu(`${p}.relu1`, b.bn(`${p}.bn1`, b.conv(`${p}.conv1`, x, planes, 1, 1, 0, adjoined, `${p}.conv1`)));
        // Stride on the 3×3 conv, as torchvision's ResNet v1.5 (its 4.09 GMACs).
        y = b.relu(`${p}.relu2`, b.bn(`${p}.bn2`, b.conv(`${p}.conv2`, y, planes, 3, stride, 1, adjoined, `${p}.conv2`)));
        y = b.bn(`${p}.bn3`, b.conv(`${p}.conv3`, y, planes * expansion, 1, 1, 0, adjoined, tied));
      } else {
        y = b.relu(`${p}.relu1`, b.bn(`${p}.bn1`, b.conv(`${p}.conv1`, x, planes, 3, stride, 1, adjoined, `${p}.conv1`)));
        y = b.bn(`${p}.bn2`, b.conv(`${p}.conv2`, y, planes, 3, 1, 1, adjoined, tied));
      }
      let shortcut = x;
      if (stride !== 1 || cin !== planes * expansion) {
        shortcut = b.bn(`${p}.down.bn`, b.conv(`${p}.down.conv`, x, planes * expansion, 1, stride, 0, adjoined, tied));
      }
      x = b.relu(`${p}.relu`, b.add(`${p}.add`, y, shortcut));
    }
  }
  const f = b.gap('pool', x);
  return b.finish(b.dense('fc', f, config.classes));
}

function buildDenseNet121(config: ModelConfig): ModelGraph {
  const b = new GraphBuilder(config);
  const w = config.width;
  const growth = scaled(32, w);
  const bottleneck = 4 * growth;
  const blocks = [6, 12, 24, 16];
  let x = b.input({ h: config.inputSize, w: config.inputSize, c: config.channels });
  x = stem(b, x, scaled(64, w));
  blocks.forEach((layers, d) => {
    // Dense block 1 plays the role of ResNet's first stage.
    const adjoined = d > 0 || config.compressFirstStage;
    for (let l = 0; l < layers; l++) {
      const p = `d${d + 1}.l${l + 1}`;
      let y = b.relu(`${p}.relu1`, b.bn(`${p}.bn1`, x));
      y = b.conv(`${p}.conv1`, y, bottleneck, 1, 1, 0, adjoined, `${p}.conv1`);
      y = b.relu(`${p}.relu2`, b.bn(`${p}.bn2`, y));
      y = b.conv(`${p}.conv2`, y, growth, 3, 1, 1, adjoined, `${p}.conv2`);
      x = b.concat(`${p}.cat`, [x, y]);
    }
    if (d < blocks.length - 1) {
      const p = `t${d + 1}`;
      let y = b.relu(`${p}.relu`, b.bn(`${p}.bn`, x));
      y = b.conv(`${p}.conv`, y, Math.floor(b.shape(x).c / 2), 1, 1, 0, true, `${p}.conv`);
      x = b.avgpool(`${p}.pool`, y, 2, 2);
    }
  });
  x = b.relu('final.relu', b.bn('final.bn', x));
  const f = b.gap('pool', x);
  return b.finish(b.dense('fc', f, config.classes));
}

/**
 * torchvision's channel rounding for MobileNets: to the nearest multiple of
 * 8 (at least 8), never more than 10 % below the unrounded count.
 */
export function makeDivisible(v: number, divisor = 8): number {
  const n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return n < 0.9 * v ? n + divisor : n;
}

/** torchvision's MobileNetV2 stages: expansion t, output channels c, blocks n, first stride s. */
const MOBILENET_V2_STAGES: ReadonlyArray<{ t: number; c: number; n: number; s: number }> = [
  { t: 1, c: 16, n: 1, s: 1 },
  { t: 6, c: 24, n: 2, s: 2 },
  { t: 6, c: 32, n: 3, s: 2 },
  { t: 6, c: 64, n: 4, s: 2 },
  { t: 6, c: 96, n: 3, s: 1 },
  { t: 6, c: 160, n: 3, s: 2 },
  { t: 6, c: 320, n: 1, s: 1 },
];

/**
 * torchvision's MobileNetV2 (without its dropout): a 3×3 stem, inverted
 * residual blocks — 1×1 expansion with ReLU6, 3×3 depthwise with ReLU6, 1×1
 * linear projection, a residual add where the stride is 1 and the shapes
 * match — a 1×1 conv to 1280 channels (more only for widths above 1), global
 * pooling and a linear classifier. The ImageNet stem is torchvision's
 * (3×3/2); the CIFAR stem, for small images, runs the stem conv and the
 * first stride-2 stage (24 channels) at stride 1, so a 32×32 image reaches
 * the last stage at 4×4 instead of 1×1.
 *
 * What is adjoined follows the authors' ResNet rule: the stem and the first
 * stage (the t = 1 block) stay full unless `compressFirstStage`; in every
 * later block the expansion's outputs (its own width group) and the
 * projection's are sliced by α, the depthwise conv keeping its expansion's
 * channels; the projections of a stage are one width group, as their outputs
 * meet in residual adds; the last 1×1 conv is sliced (its own group).
 */
function buildMobileNetV2(config: ModelConfig): ModelGraph {
  const b = new GraphBuilder(config);
  const w = config.width;
  const cifar = config.stem === 'cifar';
  let x = b.input({ h: config.inputSize, w: config.inputSize, c: config.channels });
  x = b.relu6('stem.relu', b.bn('stem.bn', b.conv('stem.conv', x, makeDivisible(32 * w), 3, cifar ? 1 : 2, 1, false, null)));
  MOBILENET_V2_STAGES.forEach(({ t, c, n, s }, k) => {
    const stage = `s${k + 1}`;
    const adjoined = k > 0 || config.compressFirstStage;
    const out = makeDivisible(c * w);
    for (let j = 0; j < n; j++) {
      const p = `${stage}.b${j + 1}`;
      // The CIFAR stem's second stride-1 change: the first stride-2 stage keeps the resolution.
      const stride = j > 0 || (cifar && k === 1) ? 1 : s;
      const cin = b.shape(x).c;
      let y = x;
      if (t !== 1) y = b.relu6(`${p}.expand.relu`, b.bn(`${p}.expand.bn`, b.conv(`${p}.expand`, y, Math.round(cin * t), 1, 1, 0, adjoined, `${p}.expand`)));
      y = b.relu6(`${p}.dw.relu`, b.bn(`${p}.dw.bn`, b.dwconv(`${p}.dw`, y, 3, stride, 1)));
      y = b.bn(`${p}.project.bn`, b.conv(`${p}.project`, y, out, 1, 1, 0, adjoined, `${stage}.out`));
      x = stride === 1 && cin === out ? b.add(`${p}.add`, y, x) : y;
    }
  });
  const last = makeDivisible(1280 * Math.max(1, w));
  x = b.relu6('head.relu', b.bn('head.bn', b.conv('head.conv', x, last, 1, 1, 0, true, 'head.conv')));
  return b.finish(b.dense('fc', b.gap('pool', x), config.classes));
}

export function buildGraph(config: ModelConfig): ModelGraph {
  validateModelConfig(config);
  const { arch } = config;
  switch (arch) {
    case 'resnet18':
    case 'resnet34':
    case 'resnet50':
    case 'resnet100':
      return buildResNet(config, RESNETS[arch]);
    case 'densenet121':
      return buildDenseNet121(config);
    case 'mobilenetv2':
      return buildMobileNetV2(config);
    default:
      return assertNever(arch, 'architecture');
  }
}
