import { tinyConfig } from '../../helpers/configs.js';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TrainEvent } from '../../../shared/events.js';
import { costReport } from '../../../shared/model/cost.js';
import { buildGraph } from '../../../shared/model/graph.js';
import { planSmall } from '../../../shared/model/plan.js';
import { smallNetworkGraph } from '../../../shared/model/small-network.js';
import { DEFAULT_KD, type TrainConfig } from '../../../shared/train-config.js';
import { loadNetwork } from '../../../main/engine/bundle.js';
import { synthesize } from '../../../main/engine/data/synthetic.js';
import { adjoinedLoss, crossEntropy, distillationLoss, klDivergence } from '../../../main/engine/loss.js';
import { train } from '../../../main/engine/train.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

const root = mkdtempSync(join(tmpdir(), 'adjoin-modes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const data = synthesize({ classes: 3, size: 12, channels: 1, train: 48, val: 24, seed: 4 });
const base: TrainConfig = tinyConfig({ mode: 'standard', alpha: null, epochs: 1, seed: 0 });

async function run(name: string, config: TrainConfig, d = data): Promise<{ events: TrainEvent[]; dir: string }> {
  const dir = join(root, name);
  const events: TrainEvent[] = [];
  const outcome = await train({ config, data: d, outDir: dir, emit: (e) => events.push(e) });
  if (outcome.status !== 'finished') throw new Error(`${name}: ${JSON.stringify(outcome)}`);
  return { events, dir };
}

describe('small: the small architecture trained alone', () => {
  it('is exactly the architecture an AN run extracts (same layers, params and MACs)', async () => {
    for (const alpha of [2, 4] as const) {
      const graph = buildGraph({ ...base.model, width: 0.25 });
      const small = smallNetworkGraph(graph, planSmall(graph, alpha));
      expect(costReport(small).full).toEqual(costReport(graph, alpha).small);
    }
    const an = await run('an', { ...base, mode: 'an', alpha: 2 });
    const alone = await run('small', { ...base, mode: 'small', alpha: 2 });
    const extracted = loadNetwork(join(an.dir, 'small.adjoin'));
    const trained = loadNetwork(join(alone.dir, 'network.adjoin'));
    expect(trained.graph.nodes.map((n) => [n.name, n.op, n.shape])).toEqual(extracted.graph.nodes.map((n) => [n.name, n.op, n.shape]));
    expect(trained.params.countTrainable()).toBe(extracted.params.countTrainable());
    extracted.params.dispose();
    trained.params.dispose();
  });

  it('reports its one network as the small network', async () => {
    const { events } = await run('small-events', { ...base, mode: 'small', alpha: 2 });
    const epoch = events.find((e) => e.type === 'epoch')!;
    if (epoch.type !== 'epoch') throw new Error();
    expect(epoch.val.full).toBeNull();
    expect(epoch.val.small!.accuracy).toBeGreaterThanOrEqual(0);
    expect(epoch.trainAccuracy.full).toBeNull();
    const finished = events.at(-1)!;
    if (finished.type !== 'finished') throw new Error();
    expect(finished.outputs!.small!.bundle).toBe(finished.outputs!.network);
  });
});

describe('kd: the small architecture distilled from a standard run', () => {
  it('computes Hinton’s loss (1 − w)·CE + w·T²·KL(p/T ‖ q/T)', () => {
    const y = tf.tensor1d([0, 2], 'int32');
    const q = tf.tensor2d([
      [1, 0.5, -1],
      [0, 0, 2],
    ]);
    const p = tf.tensor2d([
      [3, 0, -2],
      [-1, 1, 1],
    ]);
    const { total } = distillationLoss(y, q, p, { temperature: 4, weight: 0.9 });
    const expected = 0.1 * crossEntropy(y, q).dataSync()[0]! + 0.9 * 16 * klDivergence(tf.div(p, 4), tf.div(q, 4)).dataSync()[0]!;
    expect(total.dataSync()[0]).toBeCloseTo(expected, 6);
  });

  it('distils from a finished standard run of the same data', async () => {
    const teacher = await run('teacher', base);
    const { events } = await run('kd', {
      ...base,
      mode: 'kd',
      alpha: 2,
      kd: { teacher: join(teacher.dir, 'network.adjoin'), teacherRun: null, ...DEFAULT_KD },
    });
    const step = events.find((e) => e.type === 'step')!;
    if (step.type !== 'step') throw new Error();
    expect(step.kl).not.toBeNull();
    expect(events.at(-1)).toMatchObject({ type: 'finished', val: { full: null } });
  });

  it('refuses a teacher whose data, input size or classes differ, or that is not a standard run, naming the difference', async () => {
    const teacher = await run('teacher2', base);
    const adjoined = await run('adjoined-teacher', { ...base, mode: 'an', alpha: 2 });
    const kd = (network: string): TrainConfig => ({ ...base, mode: 'kd', alpha: 2, kd: { teacher: network, teacherRun: 7, ...DEFAULT_KD } });
    const network = join(teacher.dir, 'network.adjoin');
    const otherImages = synthesize({ classes: 3, size: 12, channels: 1, train: 48, val: 24, seed: 5 });
    await expect(train({ config: kd(network), data: otherImages, emit: () => undefined })).rejects.toThrow(
      /teacher run 7 cannot teach this run: it was trained on other images/,
    );
    const bigger = synthesize({ classes: 3, size: 16, channels: 1, train: 48, val: 24, seed: 4 });
    await expect(train({ config: { ...kd(network), model: { ...base.model, inputSize: 16 } }, data: bigger, emit: () => undefined })).rejects.toThrow(
      /takes 12×12 images, this run 16×16/,
    );
    const fourClasses = synthesize({ classes: 4, size: 12, channels: 1, train: 48, val: 24, seed: 4 });
    await expect(train({ config: { ...kd(network), model: { ...base.model, classes: 4 } }, data: fourClasses, emit: () => undefined })).rejects.toThrow(
      /its classes are class-0, class-1, class-2; this data's are class-0, class-1, class-2, class-3/,
    );
    await expect(train({ config: kd(join(adjoined.dir, 'network.adjoin')), data, emit: () => undefined })).rejects.toThrow(/not a standard run/);
    await expect(train({ config: kd(join(root, 'nothing.adjoin')), data, emit: () => undefined })).rejects.toThrow(/has no trained network/);
  });
});

describe('an with a label loss on the small path', () => {
  it('β = 0 is the paper’s loss exactly; β adds β·CE(q)', () => {
    const y = tf.tensor1d([1, 0], 'int32');
    const p = tf.tensor2d([
      [0.2, 1.3],
      [2, -1],
    ]);
    const q = tf.tensor2d([
      [0.5, 0.1],
      [1, 1],
    ]);
    const paper = adjoinedLoss(y, p, q, { lambda: 0.7, c: 1, beta: 0 });
    expect(paper.smallCe).toBeNull();
    expect(paper.total.dataSync()[0]).toBe(tf.add(crossEntropy(y, p), tf.mul(klDivergence(p, q), 0.7)).dataSync()[0]);
    const ours = adjoinedLoss(y, p, q, { lambda: 0.7, c: 1, beta: 1 });
    expect(ours.total.dataSync()[0]).toBeCloseTo(paper.total.dataSync()[0]! + crossEntropy(y, q).dataSync()[0]!, 6);
  });
});
