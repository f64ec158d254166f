import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DataSource } from '../../../shared/api.js';
import { JobManager } from '../../../main/jobs/host/manager.js';
import { openStore } from '../../../main/store/open.js';
import { tinyConfig } from '../../helpers/configs.js';
import { swiftShaderEnv, WEBGPU_SKIP } from '../../helpers/webgpu.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-webgpu-job-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.skipIf(WEBGPU_SKIP !== null)('a job on the webgpu backend (SwiftShader)', () => {
  it('trains in its own process, which ends by itself once done (its WebGPU device released), and the run records its backend', async () => {
    const store = openStore(join(root, 'adjoin.db'));
    const env = { ...process.env, ADJOIN_BACKEND: 'webgpu', ...swiftShaderEnv() };
    const m = new JobManager(store, { runsDir: join(root, 'runs'), cacheDir: join(root, 'cache'), env });
    const data: DataSource = { path: 'synthetic:classes=3,size=8,train=16,val=8', settings: {}, limitTrain: null, limitVal: null };
    const id = m.startTrain(data, tinyConfig({ epochs: 1, batchSize: 8 }, { inputSize: 8 }));
    // The job's result is settled when its process exits: a process Dawn kept alive would never settle it.
    expect(await m.ended(id)).toEqual({ status: 'finished' });
    const run = store.runs.require(id);
    expect(run).toMatchObject({ status: 'finished', backend: 'webgpu' });
    expect(run.backendInfo).toMatchObject({ kind: 'webgpu', label: 'CPU', device: expect.stringMatching(/^SwiftShader/) });
    store.close();
  });
});
