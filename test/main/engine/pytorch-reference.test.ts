import { describe, expect, it } from 'vitest';
import { lambdaAt, ratesAt } from '../../../shared/schedules.js';
import { DEFAULT_LOSS, recipe, recipeSmallCe, trainConfigOf, type TrainConfig, type TrainSettings } from '../../../shared/train-config.js';
import { BatchBuilder, normalizationFor } from '../../../main/engine/data/batches.js';
import { synthesize } from '../../../main/engine/data/synthetic.js';
import { freshPosition, runEpochs } from '../../../main/engine/loop.js';
import type { Optimizer } from '../../../main/engine/optim.js';
import type { NetworkParams } from '../../../main/engine/params.js';
import { Rng } from '../../../main/engine/rng.js';
import { TRAINING, type TrainStepReport } from '../../../main/engine/train.js';
import { useWasmBackend } from '../../helpers/tf.js';
import {
  hasTorch,
  torchReferenceRun,
  type EngineState,
  type ReferenceRunInput,
  type GateFlip,
  type ReferenceStep,
  type TensorEntry,
} from '../../helpers/torch.js';

useWasmBackend();

/**
 * Two epochs of six steps: the one cycle's warm-up (steps 0–2) and its
 * annealing (3–11), and λ(t) from 0 to 1, all fall inside the twelve steps.
 */
const EPOCHS = 2;
const STEPS_PER_EPOCH = 6;
const BATCH = 16;
const data = synthesize({ classes: 10, size: 16, channels: 1, train: STEPS_PER_EPOCH * BATCH, val: 10, seed: 5 });

/** The short recipe as `adjoin train` builds it (its default), on a ResNet-18 of width 0.25 with the CIFAR stem. */
function shortRun(mode: 'standard' | 'an'): TrainConfig {
  const settings: TrainSettings = {
    model: { arch: 'resnet18', stem: 'cifar', inputSize: 16, channels: 1, classes: 10, width: 0.25, compressFirstStage: false },
    epochs: EPOCHS,
    batchSize: BATCH,
    ...recipe('short', BATCH),
    loss: { ...DEFAULT_LOSS, smallCe: recipeSmallCe('short') },
    seed: 11,
    checkpointEvery: EPOCHS,
  };
  return trainConfigOf(settings, mode, mode === 'an' ? 4 : null);
}

function tensorsOf(params: NetworkParams): TensorEntry[] {
  const entry = (trainable: boolean) => (v: [string, { shape: number[] }]) => ({ name: v[0], shape: [...v[1].shape], trainable });
  return [...[...params.trainable].map(entry(true)), ...[...params.running].map(entry(false))];
}

/** The run's weights, running statistics and momentum buffers, read now. */
function stateOf(params: NetworkParams, optimizer: Optimizer, tensors: readonly TensorEntry[]): EngineState {
  const slots = optimizer.state().slots;
  const values = tensors.map((t) => params.get(t.name).dataSync() as Float32Array);
  if (slots.size === 0) return { values, buffers: null };
  const buffers = tensors
    .filter((t) => t.trainable)
    .map((t) => {
      const slot = slots.get(`${t.name}/momentum`);
      if (slot === undefined) throw new Error(`the optimiser has no momentum buffer for ${t.name}`);
      return slot.dataSync() as Float32Array;
    });
  return { values, buffers };
}

interface EngineStep {
  report: TrainStepReport;
  momentum: number | null;
  lambda: number;
}

interface EngineRun {
  /** Its states: before each step, and after the last. */
  input: ReferenceRunInput;
  steps: EngineStep[];
}

/**
 * The run as the engine trains it: the run session's own task (its batches
 * with their flips, the schedule by global step, the step with its loss,
 * batch norms and optimiser) driven by the session's epoch loop, on one
 * engine. Only the evaluations and checkpoints between epochs are left out:
 * they move no weight. Each batch is rebuilt beside the task from a copy of
 * its augmentation stream, to hand PyTorch the very images the engine saw,
 * and the engine's whole state is read before every step.
 */
async function engineRun(config: TrainConfig): Promise<EngineRun> {
  const root = new Rng(config.seed);
  const init = root.fork();
  const order = root.fork();
  const augment = root.fork();
  const task = TRAINING.prepare(config, data, { init, root });
  try {
    const { inputSize, channels } = config.model;
    const builder = new BatchBuilder(data, inputSize, channels, normalizationFor(config.augmentation, data, channels), config.augmentation);
    const tensors = tensorsOf(task.params);
    const pos = freshPosition(order.state(), augment);
    const batches: ReferenceRunInput['batches'][number][] = [];
    const states: EngineState[] = [];
    const steps: EngineStep[] = [];
    await runEpochs<TrainStepReport>({
      epochs: task.epochs,
      stepsPerEpoch: task.stepsPerEpoch,
      batchSize: task.batchSize,
      trainCount: task.trainCount,
      position: pos,
      stepEventInterval: 0,
      step: async (indices, progress) => {
        states.push(stateOf(task.params, task.optimizer, tensors));
        const copy = new Rng(pos.augment.state());
        batches.push(builder.build(data.train, indices, true, copy));
        const globalStep = pos.globalStep;
        const report = await task.step(indices, progress, { pos, replicas: null });
        expect(pos.augment.state(), `step ${globalStep}: the task drew its flips from another stream than the batch handed to PyTorch`).toEqual(copy.state());
        steps.push({
          report,
          momentum: ratesAt(config.schedule, config.optimizer.lr, globalStep, task.totalSteps).momentum,
          lambda: lambdaAt(config.loss.lambda, progress),
        });
        return report;
      },
      accumulate: () => undefined,
      reportStep: () => undefined,
      endEpoch: () => Promise.resolve(),
      checkpointEvery: EPOCHS,
      checkpoint: () => Promise.resolve(null),
    });
    states.push(stateOf(task.params, task.optimizer, tensors));
    const input: ReferenceRunInput = {
      recipe: 'short',
      mode: config.mode === 'an' ? 'an' : 'standard',
      alpha: config.mode === 'an' ? 4 : null,
      model: config.model,
      batchSize: config.batchSize,
      totalSteps: task.totalSteps,
      tensors,
      states,
      batches,
    };
    return { input, steps };
  } finally {
    task.dispose();
  }
}

const relative = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/**
 * Tolerances of the engine's float32 step against PyTorch's float64 step
 * from the same state (teacher forcing: two free float32 runs of this
 * network part within two or three steps, a ReLU input within rounding of
 * zero gating one way in one and the other way in the other, and one such
 * gate moving a gradient by up to 13 %; the script fits the engine's gates
 * within its kink band and applies their effect before the comparison).
 * Measured here: loss terms within 1.4e-6 (relative), weights within
 * 2.9e-6 of the step's largest update, momentum buffers within 4.1e-6 and
 * running statistics within 4.9e-7 of their largest. The bounds leave a
 * margin of seven to ten, well below what a wrong rule moves: weight decay
 * left out moves the stem's buffer by 1.2e-4, the biased variance in the
 * running average moves it by 3.7e-5, Nesterov off moves the stem's weights
 * by half their update.
 */
const LOSS_RTOL = 1e-5;
const UPDATE_RTOL = 3e-5;
const STATS_RTOL = 5e-6;
/** A float32 value is rounded to within one unit in its last place. */
const ULP = 2 ** -23;

/** How far the engine's tensor is from PyTorch's beyond float32 rounding, in units of `scale`. */
function beyondRounding(engine: ArrayLike<number>, torch: Float64Array, scale: number): number {
  let worst = 0;
  for (let i = 0; i < torch.length; i++) worst = Math.max(worst, (Math.abs(engine[i]! - torch[i]!) - ULP * Math.abs(torch[i]!)) / scale);
  return worst;
}

interface StepFigures {
  /** Largest difference after the step, beyond rounding: weights in units of the tensor's largest update, the rest of their largest value. */
  update: number;
  buffer: number;
  running: number;
}

/** The engine's state after step k against PyTorch's step from the same state before it. */
function compareState(k: number, entries: readonly TensorEntry[], before: EngineState, after: EngineState, ref: ReferenceStep): StepFigures {
  const figures: StepFigures = { update: 0, buffer: 0, running: 0 };
  let t = 0;
  entries.forEach((entry, i) => {
    const mine = after.values[i]!;
    const theirs = ref.after[i]!;
    const at = `step ${k}: ${entry.name}`;
    if (!entry.trainable) {
      const d = beyondRounding(mine, theirs, maxAbs(theirs));
      figures.running = Math.max(figures.running, d);
      expect(d, `${at}: running statistic off PyTorch's by ${d.toExponential(2)} of its largest`).toBeLessThanOrEqual(STATS_RTOL);
      return;
    }
    const start = before.values[i]!;
    let update = 0;
    for (let j = 0; j < theirs.length; j++) update = Math.max(update, Math.abs(theirs[j]! - start[j]!));
    const u = beyondRounding(mine, theirs, update);
    figures.update = Math.max(figures.update, u);
    expect(u, `${at}: weights off PyTorch's by ${u.toExponential(2)} of the step's largest update (${update.toExponential(2)})`).toBeLessThanOrEqual(
      UPDATE_RTOL,
    );
    const buffer = after.buffers?.[t];
    if (buffer === undefined) throw new Error(`${at}: the engine has no momentum buffer after the step`);
    const theirBuffer = ref.buffers[t]!;
    const b = beyondRounding(buffer, theirBuffer, maxAbs(theirBuffer));
    figures.buffer = Math.max(figures.buffer, b);
    expect(b, `${at}: momentum buffer off PyTorch's by ${b.toExponential(2)} of its largest`).toBeLessThanOrEqual(UPDATE_RTOL);
    t += 1;
  });
  return figures;
}

describe.skipIf(!hasTorch)('the training step against PyTorch 1.13, short recipe', () => {
  it.each(['standard', 'an'] as const)(
    '%s: each of twelve steps takes the losses, rates, weights and statistics of torch.optim.SGD + OneCycleLR',
    async (mode) => {
      const config = shortRun(mode);
      const engine = await engineRun(config);
      const torch = torchReferenceRun(engine.input);
      expect(torch.steps).toHaveLength(engine.steps.length);

      let worstLoss = 0;
      const worst: StepFigures = { update: 0, buffer: 0, running: 0 };
      let kinks = 0;
      const flips: GateFlip[] = [];
      engine.steps.forEach(({ report, momentum, lambda }, k) => {
        const ref = torch.steps[k]!;
        const at = `step ${k}`;
        expect(relative(report.lr, ref.lr), `${at}: lr ${report.lr} vs ${ref.lr}`).toBeLessThan(1e-7);
        expect(momentum, `${at}: the short recipe cycles momentum`).not.toBeNull();
        expect(relative(momentum ?? NaN, ref.momentum), `${at}: momentum ${momentum} vs ${ref.momentum}`).toBeLessThan(1e-7);
        if (mode === 'an') expect(Math.abs(lambda - (ref.lambda ?? NaN)), `${at}: λ`).toBeLessThan(1e-12);
        const terms: Array<[string, number | null, number | null]> = [
          ['loss', report.loss, ref.loss],
          ['ce', report.ce, ref.ce],
          ['kl', report.kl, ref.kl],
          ['smallCe', report.smallCe, ref.smallCe],
        ];
        for (const [term, mine, theirs] of terms) {
          expect(mine === null, `${at}: ${term} is computed by one side only`).toBe(theirs === null);
          if (mine === null || theirs === null) continue;
          worstLoss = Math.max(worstLoss, relative(mine, theirs));
          expect(relative(mine, theirs), `${at}: ${term} ${mine} vs PyTorch's ${theirs}`).toBeLessThan(LOSS_RTOL);
        }
        const figures = compareState(k, engine.input.tensors, engine.input.states[k]!, engine.input.states[k + 1]!, ref);
        worst.update = Math.max(worst.update, figures.update);
        worst.buffer = Math.max(worst.buffer, figures.buffer);
        worst.running = Math.max(worst.running, figures.running);
        kinks += ref.nearKinks;
        flips.push(...ref.flips);
      });
      console.info(
        `${mode} vs PyTorch ${torch.torchVersion}, ${engine.steps.length} steps: loss terms within ${worstLoss.toExponential(1)} (relative); ` +
          `beyond float32 rounding and near-kink gates, weights within ${worst.update.toExponential(1)} of the step's largest update, ` +
          `momentum buffers within ${worst.buffer.toExponential(1)} and running statistics within ${worst.running.toExponential(1)} of their largest; ` +
          `${kinks} ReLU inputs within the kink band, ${flips.length} of them set the other way by the engine (|z| ≤ ${Math.max(0, ...flips.map((f) => Math.abs(f.z))).toExponential(1)})`,
      );
    },
  );

  it('the reference refuses a network other than its own instead of loading what fits', () => {
    const config = shortRun('standard');
    const task = TRAINING.prepare(config, data, { init: new Rng(1), root: new Rng(2) });
    try {
      // One tensor renamed, as if the engine's network had gained a layer the reference does not define.
      const tensors = tensorsOf(task.params).map((t) => (t.name === 's2.b1.down.conv.weight' ? { ...t, name: 's2.b1.shortcut.weight' } : t));
      const empty: EngineState = { values: [], buffers: null };
      const input: ReferenceRunInput = {
        recipe: 'short',
        mode: 'standard',
        alpha: null,
        model: config.model,
        batchSize: BATCH,
        totalSteps: 1,
        tensors,
        states: [empty, empty],
        batches: [{ x: new Float32Array(BATCH * 16 * 16), y: new Int32Array(BATCH) }],
      };
      expect(() => torchReferenceRun(input)).toThrow(/missing \['s2\.b1\.down\.conv\.weight'\], unknown \['s2\.b1\.shortcut\.weight'\]/);
    } finally {
      task.dispose();
    }
  });
});
