import { tinyConfig } from '../../helpers/configs.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DataSource } from '../../../shared/api.js';
import type { EngineEvent } from '../../../shared/events.js';
import type { TrainConfig } from '../../../shared/train-config.js';
import { JobManager, type ManagerEvent } from '../../../main/jobs/host/manager.js';
import { openStore } from '../../../main/store/open.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-manager-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config: TrainConfig = tinyConfig({ seed: 0 });
const data: DataSource = { path: 'synthetic:classes=3,size=12,train=64,val=16', settings: {}, limitTrain: null, limitVal: null };
const env = { ...process.env, ADJOIN_BACKEND: 'wasm', ADJOIN_TEST_HOOKS: '1' };

function manager(name: string, over: Partial<ConstructorParameters<typeof JobManager>[1]> = {}): { m: JobManager; events: ManagerEvent[] } {
  const store = openStore(join(root, name, 'adjoin.db'));
  const m = new JobManager(store, { runsDir: join(root, name, 'runs'), cacheDir: join(root, 'cache'), env, ...over });
  const events: ManagerEvent[] = [];
  m.subscribe((e) => events.push(e));
  return { m, events };
}

const engineEvents = (events: ManagerEvent[], runId: number): EngineEvent[] =>
  events.flatMap((e) => (e.type === 'run:event' && e.runId === runId ? [e.event] : []));

describe('the job manager', () => {
  it.runIf(availableParallelism() >= 2)('shares the cores among the jobs it runs at once: one job alone trains on every core', async () => {
    const unset: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete unset['ADJOIN_TRAIN_WORKERS'];
    const { m, events } = manager('cores', { env: unset, concurrency: 1 });
    const id = m.startTrain(data, { ...config, epochs: 1 });
    expect(await m.ended(id)).toEqual({ status: 'finished' });
    const started = engineEvents(events, id).find((e) => e.type === 'started');
    expect(started).toMatchObject({ backend: { device: expect.stringMatching(new RegExp(`${Math.min(availableParallelism(), 8)} engines in parallel$`)) } });
    m.store.close();
  });

  it('runs a training job in its own process, records it and forwards its events', async () => {
    const { m, events } = manager('ok');
    const id = m.startTrain(data, config);
    expect(await m.ended(id)).toEqual({ status: 'finished' });
    const run = m.store.runs.require(id);
    expect(run).toMatchObject({ status: 'finished', kind: 'train', backend: 'wasm', epochsDone: 2 });
    expect(run.datasetId).not.toBeNull();
    expect(m.store.datasets.get(run.datasetId!)!.path).toBe(data.path);
    expect(engineEvents(events, id).map((e) => e.type)).toContain('epoch');
    expect(events.filter((e) => e.type === 'runs:changed').length).toBeGreaterThanOrEqual(3);
    m.store.close();
  });

  it('queues beyond its concurrency, cancels a queued run without starting it, and a running one after a step', async () => {
    const { m, events } = manager('queue', { concurrency: 1 });
    const a = m.startTrain(data, config);
    const b = m.startTrain(data, config);
    expect(m.store.runs.require(b).status).toBe('queued');
    expect(m.cancel(b)).toBe('cancelled');
    expect(m.store.runs.require(b).status).toBe('cancelled');
    await new Promise<void>((resolve) => {
      const off = m.subscribe((e) => {
        if (e.type === 'run:event' && e.runId === a && e.event.type === 'step') {
          off();
          resolve();
        }
      });
    });
    expect(m.cancel(a)).toBe('running');
    expect(await m.ended(a)).toMatchObject({ status: 'cancelled' });
    const run = m.store.runs.require(a);
    expect(run.status).toBe('cancelled');
    expect(run.checkpointPath).not.toBeNull();
    expect(engineEvents(events, b)).toEqual([]);

    // And continues from its checkpoint to the end.
    m.resume(a);
    expect(await m.ended(a)).toEqual({ status: 'finished' });
    expect(m.store.runs.require(a)).toMatchObject({ status: 'finished', epochsDone: 2 });
    m.store.close();
  });

  it('marks a run whose engine process aborts as failed (crashed) and carries on with the next', async () => {
    const { m, events } = manager('crash', { testHooks: { abortAtStep: 2 } });
    const id = m.startTrain(data, config);
    expect(await m.ended(id)).toMatchObject({ status: 'crashed' });
    const run = m.store.runs.require(id);
    expect(run).toMatchObject({ status: 'failed', failureReason: 'crashed' });
    expect(run.error).toMatch(/ended unexpectedly \(signal SIGABRT\)/);
    expect(engineEvents(events, id).at(-1)).toMatchObject({ type: 'failed', reason: 'crashed' });
    expect(m.store.integrityCheck()).toEqual(['ok']);
    m.store.close();
  });

  it('keeps a run whose data cannot be opened in the history, failed with the reason', async () => {
    const { m } = manager('bad-data');
    const id = m.startTrain({ ...data, path: join(root, 'no-such-folder') }, config);
    expect(await m.ended(id)).toMatchObject({ status: 'error' });
    const run = m.store.runs.require(id);
    expect(run).toMatchObject({ status: 'failed', failureReason: 'error' });
    expect(run.error).toMatch(/does not exist/);
    m.store.close();
  });

  it('refuses to resume a finished run or one that is not there', async () => {
    const { m } = manager('resume-refusals');
    expect(() => m.resume(99)).toThrow(/there is no run 99/);
    const id = m.startTrain(data, { ...config, epochs: 1 });
    await m.ended(id);
    expect(() => m.resume(id)).toThrow(/has finished/);
    expect(() => m.cancel(id)).toThrow(/is not running \(it is finished\)/);
    m.store.close();
  });
});
