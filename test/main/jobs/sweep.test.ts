import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobManager } from '../../../main/jobs/host/manager.js';
import { runSweep, sweepView } from '../../../main/jobs/host/sweep.js';
import { openStore } from '../../../main/store/open.js';
import { cellConfig, expandGrid, type CellProgress, type SweepSpec } from '../../../shared/sweep.js';
import { DEFAULT_KD, DEFAULT_LOSS, recipe } from '../../../shared/train-config.js';
import { tempDirs } from '../../helpers/store.js';

const temp = tempDirs('adjoin-sweep-jobs-');
const env = { ...process.env, ADJOIN_BACKEND: 'wasm' };

const spec: SweepSpec = {
  data: { path: 'synthetic:classes=3,size=12,train=48,val=24', settings: {}, limitTrain: null, limitVal: null },
  model: { arch: 'resnet18', stem: 'cifar', inputSize: 12, channels: 1, classes: 3, width: 0.125, compressFirstStage: false },
  modes: ['standard', 'kd'],
  alphas: [2],
  seeds: [0, 1],
  epochs: 1,
  batchSize: 16,
  ...recipe('cifar'),
  loss: DEFAULT_LOSS,
  smallCes: [0],
  kd: { ...DEFAULT_KD },
  checkpointEvery: 1,
};

describe('runSweep', () => {
  it('blocks the kd cell whose teacher failed, trains the rest, and ends failed with the reason kept', async () => {
    const dir = temp();
    const store = openStore(join(dir, 'adjoin.db'));
    const sweepId = store.sweeps.create(spec, { pid: process.pid, host: hostname() }, Date.now());
    // Seed 0's teacher already failed in an earlier session.
    const standard0 = expandGrid(spec).find((c) => c.key === 'standard-s0')!;
    const failedRun = store.runs.create({ config: cellConfig(spec, standard0), datasetId: null, outDir: null, owner: null }, Date.now());
    store.runs.markEnded(failedRun, { status: 'failed', reason: 'error', error: 'out of memory', checkpoint: null, time: Date.now() });
    store.sweeps.setCell(sweepId, 'standard-s0', failedRun, null);

    const manager = new JobManager(store, { runsDir: join(dir, 'runs'), cacheDir: join(dir, 'cache'), env, concurrency: 2 });
    const progress: CellProgress[] = [];
    const status = await runSweep(manager, sweepId, { onProgress: (p) => progress.push(p) });
    expect(status).toBe('failed');

    const r = sweepView(store, sweepId);
    const state = Object.fromEntries(r.cells.map((c) => [c.cell.key, [c.state, c.error]]));
    expect(state).toEqual({
      'standard-s0': ['failed', 'out of memory'],
      'kd-a2-s0': ['blocked', 'its teacher, the standard run of seed 0, failed'],
      'standard-s1': ['finished', null],
      'kd-a2-s1': ['finished', null],
    });
    // The failed run was reported, not repeated; kd of seed 1 waited for its teacher.
    expect(store.runs.list()).toHaveLength(3);
    const kd1 = progress.filter((p) => p.cell.key === 'kd-a2-s1').map((p) => p.state);
    expect(kd1[0]).toBe('waiting');
    expect(kd1.at(-1)).toBe('finished');
    expect(store.sweeps.require(sweepId).status).toBe('failed');
    expect(r.stats.map((s) => s.label)).toEqual(['standard', 'kd α=2']);
    store.close();
  }, 120_000);
});
