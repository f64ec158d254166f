import { tinyConfig } from '../../helpers/configs.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../shared/events.js';
import type { TrainConfig } from '../../../shared/train-config.js';
import { hostJob } from '../../../main/jobs/host/job-host.js';
import type { JobSpec } from '../../../main/jobs/job-spec.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-jobs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config: TrainConfig = tinyConfig({ seed: 0 });

const spec = (name: string, over: Partial<JobSpec> = {}): JobSpec =>
  ({
    kind: 'train',
    config,
    data: { source: 'synthetic:classes=3,size=12,train=64,val=16', limitTrain: null, limitVal: null, import: null },
    outDir: join(root, name),
    cacheDir: join(root, 'cache'),
    resume: false,
    ...over,
  }) as JobSpec;

const env = { ...process.env, ADJOIN_BACKEND: 'wasm' };

describe('a job in its own process', () => {
  it('streams the engine events and finishes', async () => {
    const events: EngineEvent[] = [];
    const job = hostJob(spec('ok'), { onEvent: (e) => events.push(e), env });
    expect(await job.done).toEqual({ status: 'finished' });
    expect(events[0]?.type).toBe('started');
    expect(events.at(-1)?.type).toBe('finished');
  });

  it('stops when asked, with a checkpoint', async () => {
    const events: EngineEvent[] = [];
    const job = hostJob(spec('stop'), {
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'step') job.stop('cancel');
      },
      env,
    });
    const result = await job.done;
    expect(result).toMatchObject({ status: 'cancelled', checkpoint: join(root, 'stop', 'checkpoint.ckpt') });
  });

  it('reports bad input as an error, not a crash', async () => {
    const job = hostJob(spec('bad', { data: { source: join(root, 'missing'), limitTrain: null, limitVal: null, import: null } }), {
      onEvent: () => undefined,
      env,
    });
    const result = await job.done;
    expect(result).toMatchObject({ status: 'error', error: { name: 'InputError' } });
    if (result.status === 'error') expect(result.error.message).toMatch(/does not exist/);
  });

  it('survives a native abort inside the engine and says the process crashed', async () => {
    const events: EngineEvent[] = [];
    const job = hostJob(spec('abort', { testHooks: { abortAtStep: 3 } }), {
      onEvent: (e) => events.push(e),
      env: { ...env, ADJOIN_TEST_HOOKS: '1' },
    });
    const result = await job.done;
    expect(result).toMatchObject({ status: 'crashed' });
    if (result.status === 'crashed') expect(result.message).toMatch(/SIGABRT|exit code 134/);
    expect(events.some((e) => e.type === 'started')).toBe(true);
  });

  it('ignores the abort hook unless test hooks are enabled', async () => {
    const job = hostJob(spec('no-hooks', { testHooks: { abortAtStep: 1 } }), { onEvent: () => undefined, env: { ...env, ADJOIN_TEST_HOOKS: '0' } });
    expect(await job.done).toEqual({ status: 'finished' });
  });
});
