import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../shared/events.js';
import { applyEvent, emptySeries, isOver, MAX_STEP_POINTS, narrowness, type RunSeries, seriesFromDetails } from '../../renderer/src/lib/run-series.js';
import { details, epoch, run, started, step, WASM } from './fixtures.js';

const fold = (events: EngineEvent[], from: RunSeries = emptySeries()): RunSeries => events.reduce(applyEvent, from);

describe('applyEvent (live run)', () => {
  it('started → running, with the backend, classes and cost', () => {
    const s = fold([started()]);
    expect(s.status).toBe('running');
    expect(s.phase).toBe('train');
    expect(s.backend).toEqual(WASM);
    expect(s.classes).toEqual(['a', 'b', 'c']);
    expect(s.cost?.small).toEqual({ params: 100, macs: 10_000 });
    expect(s.epochsTotal).toBe(2);
  });

  it('steps move the progress and extend the loss, λ and lr series', () => {
    const s = fold([started(), step(1), step(2), step(3)]);
    expect(s.steps.map((p) => p.globalStep)).toEqual([1, 2, 3]);
    expect(s.progress).toMatchObject({ epoch: 2, step: 1, globalStep: 3, totalSteps: 4, progress: 0.75, etaSeconds: 1, epochs: 2 });
    expect(s.steps[2]!.lambda).toBeCloseTo(Math.min(4 * 0.75 ** 2, 1), 12);
  });

  it('epochs give full and small accuracy per epoch; a repeated epoch replaces its point', () => {
    const s = fold([started(), epoch(1, 0.3, 0.25), epoch(2, 0.5, 0.45), epoch(2, 0.55, 0.5)]);
    expect(s.epochs.map((e) => [e.epoch, e.val.full, e.val.small])).toEqual([
      [1, 0.3, 0.25],
      [2, 0.55, 0.5],
    ]);
  });

  it('finished, cancelled and failed end the run', () => {
    const done = fold([
      started(),
      {
        type: 'finished',
        time: 9,
        epochs: 2,
        val: { full: { accuracy: 0.5, loss: 1 }, small: { accuracy: 0.4, loss: 1 } },
        confusion: [[1]],
        seconds: 12,
        outputs: null,
      },
    ]);
    expect(done.status).toBe('finished');
    expect(done.final?.seconds).toBe(12);
    expect(isOver(done)).toBe(true);
    expect(fold([started(), { type: 'cancelled', time: 3, epoch: 1, step: 1, checkpoint: null }]).status).toBe('cancelled');
    const failed = fold([
      started(),
      { type: 'failed', time: 3, reason: 'nan_loss', error: { name: 'Error', message: 'loss became NaN at step 3' }, checkpoint: null },
    ]);
    expect(failed.failure).toEqual({ reason: 'nan_loss', message: 'loss became NaN at step 3' });
    expect(isOver(fold([started()]))).toBe(false);
  });

  it('a step the history already gave is replaced, not duplicated; a resumed run rewinds', () => {
    const s = fold([step(1), step(2), step(3), step(2, 9)]);
    expect(s.steps.map((p) => [p.globalStep, p.loss])).toEqual([
      [1, 1.9],
      [2, 9],
    ]);
  });

  it('bounds the series a long run keeps', () => {
    let s = emptySeries();
    for (let i = 1; i <= MAX_STEP_POINTS * 3; i++) s = applyEvent(s, step(i));
    expect(s.steps.length).toBeLessThanOrEqual(MAX_STEP_POINTS);
    expect(s.steps[0]!.globalStep).toBe(1);
    expect(s.steps.at(-1)!.globalStep).toBe(MAX_STEP_POINTS * 3);
  });

  it('keeps the latest engine logs', () => {
    const s = fold([{ type: 'log', time: 1, level: 'warn', message: 'batch larger than the training set' }]);
    expect(s.logs).toEqual([{ level: 'warn', message: 'batch larger than the training set' }]);
  });

  it('a DAN search fills the width-choice rows per epoch, then the result', () => {
    const searchStarted: EngineEvent = {
      type: 'search-started',
      time: 1,
      backend: WASM,
      config: { space: [1, 2, 4], epochs: 3 } as never,
      data: started().type === 'started' ? (started() as Extract<EngineEvent, { type: 'started' }>).data : (null as never),
      groups: [
        { group: 'stage2', channels: 16 },
        { group: 'stage3', channels: 32 },
      ],
      full: { params: 1000, macs: 50_000 },
      feasible: { min: 10_000, max: 50_000 },
      target: null,
      heldOut: 0,
      warmupSteps: 0,
      totalSteps: 6,
      stepsPerEpoch: 2,
      resumedFrom: null,
    };
    const s = fold([
      searchStarted,
      { ...step(1), type: 'search-step', kl: 0.1, flops: 0.5, tau: 15, penalty: 0, etaLoss: null } as EngineEvent,
      {
        type: 'search-epoch',
        time: 2,
        epoch: 1,
        epochs: 3,
        tau: 15,
        expectedMacs: 20_000,
        target: null,
        penalty: 0,
        entropies: { stage2: 1.03, stage3: 0.9 },
        argmax: { params: 300, macs: 20_000 },
        groups: [
          { group: 'stage2', channels: 16, probabilities: [0.2, 0.3, 0.5], eta: [0, 0.1, 0.2], alpha: 4 },
          { group: 'stage3', channels: 32, probabilities: [0.6, 0.3, 0.1], eta: [0.2, 0.1, 0], alpha: 1 },
        ],
        trainLoss: 2,
        val: { full: { accuracy: 0.3, loss: 2 }, small: { accuracy: 0.2, loss: 2 } },
        seconds: 1,
      },
      {
        type: 'search-result',
        time: 3,
        alphas: { stage2: 4, stage3: 1 },
        cost: { full: { params: 1000, macs: 50_000 }, small: { params: 300, macs: 20_000 } },
        argmax: { alphas: { stage2: 4, stage3: 1 }, cost: { params: 300, macs: 20_000 } },
        projection: null,
        warnings: [],
        groups: [],
        history: [],
        seconds: 5,
      },
    ]);
    expect(s.phase).toBe('search');
    expect(s.progress?.tau).toBe(15);
    expect(s.search?.space).toEqual([1, 2, 4]);
    expect(s.search?.groups).toEqual(['stage2', 'stage3']);
    expect(s.search?.steps).toHaveLength(1);
    expect(s.search?.epochs[0]?.groups[1]).toEqual({ group: 'stage3', alpha: 1, probabilities: [0.6, 0.3, 0.1] });
    expect(s.search?.epochs[0]?.val).toEqual({ full: 0.3, small: 0.2 });
    expect(s.search?.result?.alphas).toEqual({ stage2: 4, stage3: 1 });
    // Then the found network trains: the train phase starts with its own series.
    const t = fold([started(), step(1)], s);
    expect(t.phase).toBe('train');
    expect(t.steps).toHaveLength(1);
    expect(t.search?.result).not.toBeNull();
  });
});

describe('seriesFromDetails (a run opened from the history)', () => {
  it('rebuilds epochs, steps, status and final figures', () => {
    const s = seriesFromDetails(
      details({
        epochs: [
          {
            epoch: 1,
            trainLoss: 2,
            trainAccuracy: { full: 0.2, small: 0.1 },
            val: { full: { accuracy: 0.3, loss: 2 }, small: null },
            lambda: 1,
            lr: 0.05,
            seconds: 3,
            time: 5,
          },
        ],
        steps: [{ globalStep: 2, epoch: 1, step: 2, loss: 2.1, ce: 2, kl: 0.1, smallCe: 2, lambda: 0.25, lr: 0.05, imagesPerSecond: 90, time: 4 }],
      }),
    );
    expect(s.status).toBe('finished');
    expect(s.epochs[0]!.val).toEqual({ full: 0.3, small: null });
    expect(s.steps).toEqual([{ globalStep: 2, epoch: 1, loss: 2.1, lambda: 0.25, lr: 0.05 }]);
    expect(s.final?.confusion).toHaveLength(3);
    expect(s.classes).toEqual(['a', 'b', 'c']);
  });
  it('a failed run keeps its reason', () => {
    const s = seriesFromDetails(
      details({ run: run({ status: 'failed', failureReason: 'crashed', error: 'the engine process exited (SIGKILL)', confusion: null }) }),
    );
    expect(s.failure).toEqual({ reason: 'crashed', message: 'the engine process exited (SIGKILL)' });
    expect(s.final).toBeNull();
  });
});

describe('narrowness', () => {
  it('places α on the space’s log scale', () => {
    expect(narrowness([1, 2, 4, 8, 16], 1)).toBe(0);
    expect(narrowness([1, 2, 4, 8, 16], 4)).toBe(0.5);
    expect(narrowness([2, 8], 8)).toBe(1);
    expect(narrowness([4], 4)).toBe(0);
  });
});
