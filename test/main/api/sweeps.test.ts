import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatch } from '../../../main/api/dispatch.js';
import { toApiEvent } from '../../../main/api/events.js';
import { startServices } from '../../../main/api/services.js';
import { sampleDatasetPath } from '../../../main/package-root.js';
import type { ApiEvents, ApiResult, SweepSummary } from '../../../shared/api.js';
import type { SweepSpec, SweepView } from '../../../shared/sweep.js';
import { DEFAULT_KD, DEFAULT_LOSS, recipe, type TrainConfig } from '../../../shared/train-config.js';
import { tempDirs } from '../../helpers/store.js';

const temp = tempDirs('adjoin-api-sweeps-');
const model = { arch: 'resnet18', stem: 'cifar', inputSize: 28, channels: 1, classes: 10, width: 0.125, compressFirstStage: false } as const;
const data = { path: sampleDatasetPath(), settings: {}, limitTrain: 64, limitVal: 32 };
const spec: SweepSpec = {
  data,
  model,
  modes: ['standard', 'kd'],
  alphas: [2],
  seeds: [0],
  // Long enough that the teacher is still training when the sweep is cancelled (the kernels got faster).
  epochs: 6,
  batchSize: 32,
  ...recipe('cifar'),
  loss: DEFAULT_LOSS,
  smallCes: [0],
  kd: { ...DEFAULT_KD },
  checkpointEvery: 1,
};

function app(dir: string) {
  const services = startServices({
    database: join(dir, 'adjoin.db'),
    shell: 'browser',
    native: null,
    concurrency: 2,
    env: { ...process.env, ADJOIN_BACKEND: 'wasm' },
  });
  const events: Array<{ event: string; payload: unknown }> = [];
  services.manager.subscribe((e) => events.push(toApiEvent(e)));
  const call = async <T>(name: string, req: unknown = {}): Promise<T> => {
    const r = (await dispatch(services.handlers, name, req)) as ApiResult<T>;
    if (!r.ok) throw new Error(`${name}: ${r.error.message}`);
    return r.value;
  };
  const until = async (done: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 1200 && !done(); i++) await new Promise((r) => setTimeout(r, 100));
    if (!done()) throw new Error(`timed out waiting for ${what}`);
  };
  return { services, events, call, until };
}

describe('sweeps over the API', () => {
  it('runs a sweep beside another run, stops only its own runs on cancel, resumes, and reports its table', async () => {
    const { services, events, call, until } = app(temp());
    const other: TrainConfig = {
      model,
      mode: 'standard',
      alpha: null,
      epochs: 12,
      batchSize: 32,
      ...recipe('cifar'),
      loss: DEFAULT_LOSS,
      seed: 5,
      checkpointEvery: 1,
    };
    const { runId: otherRun } = await call<{ runId: number }>('runs:start', { data, config: other });
    const { sweepId } = await call<{ sweepId: number }>('sweeps:start', { spec });

    const progress = (): Array<ApiEvents['sweep:progress']> =>
      events.filter((e) => e.event === 'sweep:progress').map((e) => e.payload as ApiEvents['sweep:progress']);
    await until(() => progress().some((p) => p.cell.key === 'standard-s0' && p.state === 'running'), 'the teacher to run');
    expect(progress().find((p) => p.cell.key === 'kd-a2-s0')!.state).toBe('waiting');
    expect(await call('sweeps:cancel', { sweepId })).toEqual({ stopping: true });
    await until(() => events.some((e) => e.event === 'sweeps:changed' && (e.payload as { status: string }).status === 'cancelled'), 'the sweep to stop');

    const stopped = await call<SweepView>('sweeps:show', { sweepId });
    expect(stopped.status).toBe('cancelled');
    expect(stopped.cells.map((c) => [c.cell.key, c.state])).toEqual([
      ['standard-s0', 'cancelled'],
      ['kd-a2-s0', 'waiting'],
    ]);
    // The user's own run was not the sweep's to stop.
    expect(services.manager.activeRuns()).toContain(otherRun);

    await call('sweeps:resume', { sweepId });
    await until(() => events.some((e) => e.event === 'sweeps:changed' && (e.payload as { status: string }).status === 'finished'), 'the sweep to finish');
    const done = await call<SweepView>('sweeps:show', { sweepId });
    expect(done.cells.map((c) => c.state)).toEqual(['finished', 'finished']);
    // The teacher continued in its own row: two runs for two cells.
    expect(done.cells[0]!.runId).toBe(stopped.cells[0]!.runId);
    expect(done.stats.map((s) => [s.label, s.seeds])).toEqual([
      ['standard', [0]],
      ['kd α=2', [0]],
    ]);
    const list = await call<SweepSummary[]>('sweeps:list');
    expect(list).toMatchObject([{ sweepId, status: 'finished', runs: 2, finishedRuns: 2 }]);
    await expect(call('sweeps:resume', { sweepId })).rejects.toThrow(/has finished/);
    await services.manager.ended(otherRun);
    expect(services.store.runs.require(otherRun).status).toBe('finished');
    await services.close();
  }, 300_000);

  it('refuses a bad sweep before queueing anything, naming the field', async () => {
    const { services, call } = app(temp());
    await expect(call('sweeps:start', { spec: { ...spec, modes: ['kd'] } })).rejects.toThrow(/kd runs are taught by the standard run/);
    await expect(call('sweeps:start', { spec: { ...spec, seeds: 'all' } })).rejects.toThrow(/seeds/);
    await expect(call('sweeps:start', { spec: { ...spec, data: { ...data, path: 'relative' } } })).rejects.toThrow(/absolute path/);
    await expect(call('sweeps:show', { sweepId: 3 })).rejects.toThrow(/there is no sweep 3/);
    expect(await call('sweeps:list')).toEqual([]);
    await services.close();
  });

  it('leaves a sweep interrupted when the app quits, to be resumed next time', async () => {
    const dir = temp();
    const first = app(dir);
    const { sweepId } = await first.call<{ sweepId: number }>('sweeps:start', { spec });
    await first.until(() => first.events.some((e) => e.event === 'sweep:progress' && (e.payload as { state: string }).state === 'running'), 'a run to start');
    await first.services.close();
    const second = app(dir);
    expect((await second.call<SweepView>('sweeps:show', { sweepId })).status).toBe('interrupted');
    await second.services.close();
  }, 120_000);
});
