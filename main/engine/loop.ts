import type { StopRequest } from '../../shared/stop.js';
import { Rng } from './rng.js';

/** Sums over the steps of the current epoch (loss, correct predictions, …). */
export type EpochTotals = Record<string, number>;

/** Where a run stands: enough, with the weights, to continue it exactly. */
export interface LoopPosition {
  /** Epochs fully done. */
  epoch: number;
  /** Steps done within the current epoch. */
  step: number;
  globalStep: number;
  /** Generator state at the start of the current epoch; the epoch's image order derives from it. */
  orderState: [number, number, number, number];
  /** Augmentation (and other per-step randomness) stream. */
  augment: Rng;
  totals: EpochTotals;
  elapsedSeconds: number;
}

export function freshPosition(orderState: [number, number, number, number], augment: Rng): LoopPosition {
  return { epoch: 0, step: 0, globalStep: 0, orderState, augment, totals: {}, elapsedSeconds: 0 };
}

/** The order of the training images for one epoch, from the epoch's own generator state. */
export function epochOrder(count: number, rng: Rng): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  rng.shuffle(order);
  return order;
}

export interface StepTiming {
  /** Fraction of training done before this step (t of λ(t)). */
  progress: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface EpochLoopSpec<R> {
  epochs: number;
  stepsPerEpoch: number;
  batchSize: number;
  trainCount: number;
  position: LoopPosition;
  /** Minimum milliseconds between two step reports. */
  stepEventInterval: number;
  stopRequested?: (() => StopRequest | null) | undefined;
  /** Test hook before each step; a promise it returns holds the run there (a stop request still ends it). */
  beforeStep?: ((globalStep: number) => void | Promise<void>) | undefined;
  /** One optimisation step on these training images; throws (rejects with) TrainingError to end the run. */
  step(indices: Int32Array, progress: number): Promise<R>;
  /** Adds a step's figures to the epoch's totals. */
  accumulate(totals: EpochTotals, result: R, images: number): void;
  reportStep(result: R, timing: StepTiming): void;
  /** Evaluates and reports the epoch whose steps are done (position.epoch is still its index). */
  endEpoch(epochSeconds: number): Promise<void>;
  checkpointEvery: number;
  checkpoint(): Promise<string | null>;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs epochs of steps from `position` to the end: each epoch visits the
 * training images in an order drawn from its own generator state, so a run
 * resumed from a checkpoint takes the very batches it would have taken.
 * Between steps it yields to the event loop and honours stop requests
 * (checkpointing first). Returns 'cancelled' or 'done'.
 */
export async function runEpochs<R>(spec: EpochLoopSpec<R>): Promise<{ status: 'done' } | { status: 'cancelled'; checkpoint: string | null }> {
  const pos = spec.position;
  let lastReport = 0;
  let stepSeconds: number | null = null;
  let evalSeconds = 0;
  const started = performance.now();
  const elapsedAtStart = pos.elapsedSeconds;
  const elapsed = (): number => elapsedAtStart + (performance.now() - started) / 1000;
  const totalSteps = spec.stepsPerEpoch * spec.epochs;

  while (pos.epoch < spec.epochs) {
    const epochStart = performance.now();
    const order = epochOrder(spec.trainCount, new Rng(pos.orderState));
    while (pos.step < spec.stepsPerEpoch) {
      if ((spec.stopRequested?.() ?? null) !== null) {
        pos.elapsedSeconds = elapsed();
        return { status: 'cancelled', checkpoint: await spec.checkpoint() };
      }
      const held = spec.beforeStep?.(pos.globalStep);
      if (held !== undefined) {
        await held;
        if ((spec.stopRequested?.() ?? null) !== null) {
          pos.elapsedSeconds = elapsed();
          return { status: 'cancelled', checkpoint: await spec.checkpoint() };
        }
      }
      const t0 = performance.now();
      const from = pos.step * spec.batchSize;
      const indices = order.subarray(from, Math.min(from + spec.batchSize, order.length));
      const progress = pos.globalStep / totalSteps;
      const result = await spec.step(indices, progress);
      pos.step += 1;
      pos.globalStep += 1;
      spec.accumulate(pos.totals, result, indices.length);
      const dt = (performance.now() - t0) / 1000;
      // The first steps include kernel set-up; an average weighted to recent steps tracks the real pace.
      stepSeconds = stepSeconds === null ? dt : 0.9 * stepSeconds + 0.1 * dt;
      const now = performance.now();
      if (now - lastReport >= spec.stepEventInterval || pos.step === spec.stepsPerEpoch) {
        lastReport = now;
        spec.reportStep(result, {
          progress,
          imagesPerSecond: spec.batchSize / stepSeconds,
          etaSeconds: (totalSteps - pos.globalStep) * stepSeconds + (spec.epochs - pos.epoch) * evalSeconds,
        });
      }
      await yieldToEventLoop();
    }
    const evalStart = performance.now();
    await spec.endEpoch((evalStart - epochStart) / 1000);
    evalSeconds = (performance.now() - evalStart) / 1000;
    // The next epoch's order comes from the state this epoch's shuffle left.
    const orderRng = new Rng(pos.orderState);
    epochOrder(spec.trainCount, orderRng);
    pos.orderState = orderRng.state();
    pos.epoch += 1;
    pos.step = 0;
    pos.totals = {};
    pos.elapsedSeconds = elapsed();
    if (pos.epoch % spec.checkpointEvery === 0 || pos.epoch === spec.epochs) await spec.checkpoint();
  }
  return { status: 'done' };
}

/** Adds `value` to `totals[key]`. */
export function addTo(totals: EpochTotals, key: string, value: number): void {
  totals[key] = (totals[key] ?? 0) + value;
}
