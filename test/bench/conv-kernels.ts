import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../main/engine/backend.js';
import { conv2dBackpropFilter, type FilterGradientMethod } from '../../main/engine/wasm-kernels/conv2d-backprop-filter.js';
import { depthwiseBackpropFilter, depthwiseBackpropInput, depthwiseForward, type DepthwiseMethod } from '../../main/engine/wasm-kernels/depthwise.js';
import { backendKernel } from '../../main/engine/wasm-kernels/register.js';
import { buildGraph } from '../../shared/model/graph.js';
import { planSmall } from '../../shared/model/plan.js';
import { count } from '../../shared/model/selection.js';
import { benchModel } from './bench-model.js';
import { interleaved, round, type BenchArgs } from './measure.js';

/** ResNet-18's convolutions at width 0.25 on 28×28×1, batch 64 (CIFAR stem). */
const LAYERS: Array<{ layer: string; x: [number, number, number, number]; f: [number, number, number, number]; stride: number }> = [
  { layer: 'stem 3×3 1→16', x: [64, 28, 28, 1], f: [3, 3, 1, 16], stride: 1 },
  { layer: 's1 3×3 16→16', x: [64, 28, 28, 16], f: [3, 3, 16, 16], stride: 1 },
  { layer: 's2 3×3/2 16→32', x: [64, 28, 28, 16], f: [3, 3, 16, 32], stride: 2 },
  { layer: 's2 1×1/2 16→32', x: [64, 28, 28, 16], f: [1, 1, 16, 32], stride: 2 },
  { layer: 's2 3×3 32→32', x: [64, 14, 14, 32], f: [3, 3, 32, 32], stride: 1 },
  { layer: 's3 3×3/2 32→64', x: [64, 14, 14, 32], f: [3, 3, 32, 64], stride: 2 },
  { layer: 's3 3×3 64→64', x: [64, 7, 7, 64], f: [3, 3, 64, 64], stride: 1 },
  { layer: 's4 3×3/2 64→128', x: [64, 7, 7, 64], f: [3, 3, 64, 128], stride: 2 },
  { layer: 's4 3×3 128→128', x: [64, 4, 4, 128], f: [3, 3, 128, 128], stride: 1 },
];

/**
 * Adjoin's wasm convolution kernels against the ones they replace, layer by
 * layer, timed side by side: the forward convolution (SIMD loop nest vs the
 * backend's XNNPACK kernel) and the filter gradient (SIMD loop nest vs the
 * patch-matrix product); then the depthwise kernels (`depthwise`).
 */
export async function convKernels(args: BenchArgs): Promise<Record<string, unknown>> {
  const backend = await initBackend(args.backend);
  if (backend.kind !== 'wasm') return { benchmark: 'conv-kernels', skipped: `the kernels are the wasm backend's; the backend here is ${backend.kind}` };
  const xnnpack = backendKernel('Conv2D');
  if (xnnpack === null) throw new Error('the wasm Conv2D kernel was not replaced');
  const rounds = args.rounds ?? 8;
  const layers = [];
  let totals = { simd: 0, xnnpack: 0, direct: 0, patches: 0 };
  for (const l of LAYERS) {
    const x = tf.randomNormal(l.x);
    const out = tf.backend_util.computeConv2DInfo(l.x, l.f, l.stride, 1, 'same').outShape;
    // One filter, which XNNPACK packs once and keeps (its best case; ours packs nothing), and a
    // fresh output gradient on every call, as in training (the patch product packs it anew).
    const w = tf.randomNormal(l.f);
    const grads = Array.from({ length: 4 }, () => tf.randomNormal(out));
    let next = 0;
    const attrs = { strides: l.stride, pad: 'same', dataFormat: 'NHWC', dilations: 1 } as unknown as tf.NamedAttrMap;
    const run = (info: tf.TensorInfo): void => tf.engine().makeTensorFromTensorInfo(info).dispose();
    const forward = (fn: tf.KernelFunc) => (): void => run(fn({ inputs: { x, filter: w }, backend: tf.backend(), attrs }) as tf.TensorInfo);
    const filter = (method: FilterGradientMethod) => (): void =>
      run(
        conv2dBackpropFilter(
          { inputs: { x, dy: grads[next++ % grads.length]! }, backend: tf.backend(), attrs: { ...attrs, filterShape: l.f } },
          undefined,
          method,
        ),
      );
    const ms = await interleaved(
      {
        simd: forward(tf.getKernel('Conv2D', 'wasm')!.kernelFunc),
        xnnpack: forward(xnnpack),
        direct: filter('direct'),
        patches: filter('patches'),
      },
      { warmup: 2, rounds },
    );
    totals = {
      simd: totals.simd + ms['simd']!,
      xnnpack: totals.xnnpack + ms['xnnpack']!,
      direct: totals.direct + ms['direct']!,
      patches: totals.patches + ms['patches']!,
    };
    layers.push({
      layer: l.layer,
      forward_simd_ms: round(ms['simd']!, 2),
      forward_xnnpack_ms: round(ms['xnnpack']!, 2),
      forward_speedup: round(ms['xnnpack']! / ms['simd']!, 2),
      filter_grad_direct_ms: round(ms['direct']!, 2),
      filter_grad_patches_ms: round(ms['patches']!, 2),
      filter_grad_speedup: round(ms['patches']! / ms['direct']!, 2),
    });
    tf.dispose([x, w, ...grads]);
  }
  return {
    benchmark: 'conv-kernels',
    forward_speedup: round(totals.xnnpack / totals.simd, 2),
    filter_grad_speedup: round(totals.patches / totals.direct, 2),
    layers,
    small_path_filter_grad: await smallPathFilterGradients(rounds),
    depthwise: await depthwiseKernels(rounds),
    backend: backend.kind,
    device: backend.device,
  };
}

/**
 * The filter gradients of MobileNetV2's small path (α = 4) whose output
 * channels are not in fours — the projections to 14 and 22 channels — by
 * the SIMD loop nest on dy padded to fours and by the patch product (which
 * served them before), side by side.
 */
async function smallPathFilterGradients(rounds: number): Promise<Array<Record<string, unknown>>> {
  const graph = buildGraph(benchModel('mobilenetv2'));
  const plan = planSmall(graph, 4);
  const shapes = new Map<string, { x: [number, number, number, number]; f: [number, number, number, number] }>();
  for (const node of graph.nodes) {
    if (node.op !== 'conv' || node.kernel !== 1) continue;
    const cin = count(plan.sel[node.input]!);
    const cout = count(plan.sel[node.id]!);
    if (cout % 4 === 0) continue;
    const s = node.shape;
    shapes.set(`${node.name} 1×1 ${cin}→${cout} at ${s.h}×${s.w}`, { x: [64, s.h, s.w, cin], f: [1, 1, cin, cout] });
  }
  const out = [];
  for (const [layer, l] of shapes) {
    const x = tf.randomNormal(l.x);
    const dy = tf.randomNormal([...l.x.slice(0, 3), l.f[3]]);
    const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1, filterShape: l.f } as unknown as tf.NamedAttrMap;
    const filter = (method: FilterGradientMethod) => (): void =>
      tf
        .engine()
        .makeTensorFromTensorInfo(conv2dBackpropFilter({ inputs: { x, dy }, backend: tf.backend(), attrs }, undefined, method))
        .dispose();
    const ms = await interleaved({ direct: filter('direct'), patches: filter('patches') }, { warmup: 2, rounds });
    out.push({
      layer,
      filter_grad_direct_ms: round(ms['direct']!, 2),
      filter_grad_patches_ms: round(ms['patches']!, 2),
      filter_grad_speedup: round(ms['patches']! / ms['direct']!, 2),
    });
    tf.dispose([x, dy]);
  }
  return out;
}

/**
 * MobileNetV2's depthwise convolutions (width 0.55, CIFAR stem, 28×28×1,
 * batch 64), each distinct shape once: our forward pass against XNNPACK's
 * (`forward_speedup` > 1: ours is faster), and the input and filter
 * gradients — which the backend lacks — by the SIMD loops and by their
 * JavaScript twins, with their cost in forward passes. `small_path`: the
 * same for the adjoined small path's (α = 4) channel counts.
 */
async function depthwiseKernels(rounds: number): Promise<Record<string, unknown>> {
  const graph = buildGraph(benchModel('mobilenetv2'));
  const plan = planSmall(graph, 4);
  const shapesOf = (channels: (input: number) => number): Map<string, { x: [number, number, number, number]; stride: number }> => {
    const shapes = new Map<string, { x: [number, number, number, number]; stride: number }>();
    for (const node of graph.nodes) {
      if (node.op !== 'dwconv') continue;
      const s = graph.nodes[node.input]!.shape;
      const c = channels(node.input);
      const key = `3×3${node.stride > 1 ? `/${node.stride}` : ''} ${s.h}×${s.w}×${c}`;
      if (!shapes.has(key)) shapes.set(key, { x: [64, s.h, s.w, c], stride: node.stride });
    }
    return shapes;
  };
  return {
    model: 'mobilenetv2 cifar-stem width 0.55, 28×28×1, batch 64',
    ...(await depthwiseShapes(
      shapesOf((input) => graph.nodes[input]!.shape.c),
      rounds,
    )),
    small_path: await depthwiseShapes(
      shapesOf((input) => count(plan.sel[input]!)),
      rounds,
    ),
  };
}

async function depthwiseShapes(shapes: Map<string, { x: [number, number, number, number]; stride: number }>, rounds: number): Promise<Record<string, unknown>> {
  const xnnpack = backendKernel('DepthwiseConv2dNative');
  if (xnnpack === null) throw new Error('the wasm DepthwiseConv2dNative kernel was not wrapped');
  const layers = [];
  let totals = { ours: 0, xnnpack: 0, input: 0, filter: 0 };
  for (const [layer, l] of shapes) {
    const f: [number, number, number, number] = [3, 3, l.x[3], 1];
    const pad = [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ];
    const x = tf.randomNormal(l.x);
    const w = tf.randomNormal(f);
    const out = tf.backend_util.computeConv2DInfo(l.x, f, l.stride, 1, pad as tf.backend_util.ExplicitPadding, undefined, true).outShape;
    const dy = tf.randomNormal(out);
    const attrs = { strides: l.stride, pad, dataFormat: 'NHWC', dilations: 1 } as unknown as tf.NamedAttrMap;
    const run = (info: tf.TensorInfo): void => tf.engine().makeTensorFromTensorInfo(info).dispose();
    const backend = tf.backend();
    const input = (method: DepthwiseMethod) => (): void =>
      run(depthwiseBackpropInput({ inputs: { dy, filter: w }, backend, attrs: { ...attrs, inputShape: l.x } }, method));
    const filter = (method: DepthwiseMethod) => (): void =>
      run(depthwiseBackpropFilter({ inputs: { x, dy }, backend, attrs: { ...attrs, filterShape: f } }, method));
    const ms = await interleaved(
      {
        ours: () => run(depthwiseForward({ inputs: { x, filter: w }, backend, attrs }, 'simd')),
        xnnpack: () => run(xnnpack({ inputs: { x, filter: w }, backend, attrs }) as tf.TensorInfo),
        input: input('simd'),
        filter: filter('simd'),
        inputJs: input('js'),
        filterJs: filter('js'),
      },
      { warmup: 2, rounds },
    );
    totals = {
      ours: totals.ours + ms['ours']!,
      xnnpack: totals.xnnpack + ms['xnnpack']!,
      input: totals.input + ms['input']!,
      filter: totals.filter + ms['filter']!,
    };
    layers.push({
      layer,
      forward_ms: round(ms['ours']!, 2),
      forward_xnnpack_ms: round(ms['xnnpack']!, 2),
      forward_speedup: round(ms['xnnpack']! / ms['ours']!, 2),
      input_grad_ms: round(ms['input']!, 2),
      input_grad_js_ms: round(ms['inputJs']!, 2),
      filter_grad_ms: round(ms['filter']!, 2),
      filter_grad_js_ms: round(ms['filterJs']!, 2),
    });
    tf.dispose([x, w, dy]);
  }
  return {
    forward_speedup: round(totals.xnnpack / totals.ours, 2),
    input_grad_over_forward: round(totals.input / totals.ours, 2),
    filter_grad_over_forward: round(totals.filter / totals.ours, 2),
    layers,
  };
}
