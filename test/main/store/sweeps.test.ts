import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../../main/store/open.js';
import type { LivenessProbe } from '../../../main/store/liveness.js';
import type { SweepSpec } from '../../../shared/sweep.js';
import { DEFAULT_KD, DEFAULT_LOSS, recipe } from '../../../shared/train-config.js';
import { tempDirs } from '../../helpers/store.js';

const temp = tempDirs('adjoin-sweeps-');

const spec: SweepSpec = {
  data: { path: 'synthetic', settings: {}, limitTrain: 100, limitVal: null },
  model: { arch: 'resnet18', stem: 'cifar', inputSize: 12, channels: 1, classes: 3, width: 0.125, compressFirstStage: false },
  modes: ['standard', 'an'],
  alphas: [4],
  seeds: [0, 1],
  epochs: 2,
  batchSize: 16,
  ...recipe('cifar'),
  loss: DEFAULT_LOSS,
  smallCes: [0, 1],
  kd: { ...DEFAULT_KD },
  checkpointEvery: 1,
};

const deadOwner: LivenessProbe = { pid: 1, host: 'elsewhere', now: () => Date.now() + 3_600_000, isAlive: () => false, ownsRun: () => false };

describe('sweeps in the store', () => {
  it('round-trips a sweep, its cells and its status, and marks it interrupted when its process is gone', () => {
    const file = join(temp(), 'adjoin.db');
    const store = openStore(file);
    const id = store.sweeps.create(spec, { pid: 4242, host: 'desk' }, 1000);
    store.sweeps.setCell(id, 'standard-s0', null, null);
    store.sweeps.setCell(id, 'an-a4-b1-s1', null, 'its teacher failed');
    const got = store.sweeps.require(id);
    expect(got.spec).toEqual(spec);
    expect(got).toMatchObject({ status: 'running', createdAt: 1000, owner: { pid: 4242, host: 'desk', heartbeatAt: 1000 } });
    expect(new Map(got.cells)).toEqual(
      new Map([
        ['standard-s0', { runId: null, error: null }],
        ['an-a4-b1-s1', { runId: null, error: 'its teacher failed' }],
      ]),
    );
    store.close();

    // Its owner (pid 4242 on "desk") has not been heard from for an hour: whoever opens the store next sees it interrupted.
    const reopened = openStore(file, { liveness: deadOwner });
    expect(reopened.sweeps.require(id)).toMatchObject({ status: 'interrupted', owner: { pid: null } });
    reopened.sweeps.claim(id, { pid: 7, host: 'desk' }, 2000);
    reopened.sweeps.end(id, 'finished', 3000);
    expect(reopened.sweeps.list().map((s) => [s.id, s.status, s.finishedAt])).toEqual([[id, 'finished', 3000]]);
    expect(() => reopened.sweeps.require(id + 1)).toThrow(`there is no sweep ${id + 1} in ${file}`);
    reopened.close();
  });

  it('names the sweep whose stored spec is damaged', () => {
    const file = join(temp(), 'adjoin.db');
    const store = openStore(file);
    const id = store.sweeps.create(spec, { pid: 1, host: 'desk' }, 1000);
    store.db.prepare('UPDATE sweeps SET spec = ? WHERE id = ?').run(JSON.stringify({ ...spec, seeds: [0, 0] }), id);
    expect(() => store.sweeps.require(id)).toThrow(/seed values repeat/);
    store.db.prepare('UPDATE sweeps SET spec = ? WHERE id = ?').run('{"data": 1', id);
    expect(() => store.sweeps.require(id)).toThrow(/sweeps\[1\]\.spec/);
    store.close();
  });
});
