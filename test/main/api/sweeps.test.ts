import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatch } from '../../../main/api/dispatch.js';
import { toApiEvent } from '../../../main/api/events.js';
import { startServices } from '../../../main/api/services.js';
import { sampleDatasetPath } from '../../../main/package-root.js';
import type { ApiEvents, ApiResult, SweepSummary } from '../../../shared/api.js';
import type { SweepSpec, SweepView } from '../../../shared/sweep.js';
import { DEFAULT_KD, DEFAULT_LOSS, recipe, type TrainConfig } from '../../../shared/train-config.js';
import { tinyConfig } from '../../helpers/configs.js';
import { gate, inProcessLauncher, type JobView } from '../../helpers/in-process-jobs.js';
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
  epochs: 1,
  batchSize: 32,
  ...recipe('cifar'),
  loss: DEFAULT_LOSS,
  smallCes: [0],
  kd: { ...DEFAULT_KD },
  checkpointEvery: 1,
};

/** The user's own run, beside the sweep (its seed tells it apart). */
const other: TrainConfig = tinyConfig({ mode: 'standard', epochs: 1, batchSize: 32, seed: 5 }, model);

/**
 * The app's services with jobs run in this process, so that a test holds a
 * run at its second step for as long as it needs it running: `hold` says
 * which runs, and until when.
 */
function app(dir: string, hold: (job: JobView) => Promise<void> | null = () => null) {
  const services = startServices({
    database: join(dir, 'adjoin.db'),
    shell: 'browser',
    native: null,
    concurrency: 2,
    launcher: inProcessLauncher((job, globalStep) => (globalStep === 1 ? (hold(job) ?? undefined) : undefined)),
  });
  const events: Array<{ event: string; payload: unknown }> = [];
  const waiting = new Set<() => void>();
  services.manager.subscribe((e) => {
    events.push(toApiEvent(e));
    for (const check of [...waiting]) check();
  });
  const call = async <T>(name: string, req: unknown = {}): Promise<T> => {
    const r = (await dispatch(services.handlers, name, req)) as ApiResult<T>;
    if (!r.ok) throw new Error(`${name}: ${r.error.message}`);
    return r.value;
  };
  /** Resolves at the first event after which `done` holds (at once if it holds already). */
  const until = (done: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        waiting.delete(check);
        resolve();
      };
      waiting.add(check);
      check();
    });
  return { services, events, call, until };
}

const isTeacher = (job: JobView): boolean => job.spec.kind === 'train' && job.spec.config.mode === 'standard' && job.spec.config.seed === 0;
const isOther = (job: JobView): boolean => job.spec.kind === 'train' && job.spec.config.seed === 5;

describe('sweeps over the API', () => {
  it('runs a sweep beside another run, stops only its own runs on cancel, resumes, and reports its table', async () => {
    const otherMayGoOn = gate();
    // The teacher stays at its second step until the sweep's cancel reaches it; the user's run until the test lets it go.
    const { services, events, call, until } = app(temp(), (job) =>
      isOther(job) ? otherMayGoOn.wait : isTeacher(job) && job.spec.kind === 'train' && !job.spec.resume ? job.stopped : null,
    );
    const { runId: otherRun } = await call<{ runId: number }>('runs:start', { data, config: other });
    const { sweepId } = await call<{ sweepId: number }>('sweeps:start', { spec });

    const progress = (): Array<ApiEvents['sweep:progress']> =>
      events.filter((e) => e.event === 'sweep:progress').map((e) => e.payload as ApiEvents['sweep:progress']);
    await until(() => progress().some((p) => p.cell.key === 'standard-s0' && p.state === 'running'));
    expect(progress().find((p) => p.cell.key === 'kd-a2-s0')!.state).toBe('waiting');
    expect(await call('sweeps:cancel', { sweepId })).toEqual({ stopping: true });
    await until(() => events.some((e) => e.event === 'sweeps:changed' && (e.payload as { status: string }).status === 'cancelled'));

    const stopped = await call<SweepView>('sweeps:show', { sweepId });
    expect(stopped.status).toBe('cancelled');
    expect(stopped.cells.map((c) => [c.cell.key, c.state])).toEqual([
      ['standard-s0', 'cancelled'],
      ['kd-a2-s0', 'waiting'],
    ]);
    // The user's own run was not the sweep's to stop.
    expect(services.manager.activeRuns()).toContain(otherRun);

    await call('sweeps:resume', { sweepId });
    await until(() => events.some((e) => e.event === 'sweeps:changed' && (e.payload as { status: string }).status === 'finished'));
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
    expect(services.manager.activeRuns()).toContain(otherRun);
    otherMayGoOn.open();
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
    // The teacher is still at its second step when the app quits.
    const first = app(dir, (job) => (isTeacher(job) ? job.stopped : null));
    const { sweepId } = await first.call<{ sweepId: number }>('sweeps:start', { spec });
    await first.until(() => first.events.some((e) => e.event === 'sweep:progress' && (e.payload as { state: string }).state === 'running'));
    await first.services.close();
    const second = app(dir);
    expect((await second.call<SweepView>('sweeps:show', { sweepId })).status).toBe('interrupted');
    await second.services.close();
  }, 120_000);
});
