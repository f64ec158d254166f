import { describe, expect, it } from 'vitest';
import { runJob, type JobContext } from '../../../main/jobs/worker/run-job.js';
import type { OpenedDataset } from '../../../main/jobs/job-spec.js';
import type { EngineEvent } from '../../../shared/events.js';
import type { DatasetInput } from '../../../shared/history.js';
import { SYNTHETIC, tempDirs, tinyConfig } from '../../helpers/store.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();
const temp = tempDirs('adjoin-run-job-');

/** What a job tells its host, in order. */
function context(): { ctx: JobContext; told: Array<{ type: string; value: unknown }> } {
  const told: Array<{ type: string; value: unknown }> = [];
  const ctx: JobContext = {
    emit: (event: EngineEvent) => told.push({ type: event.type, value: event }),
    log: (level, message) => told.push({ type: 'log', value: `${level}: ${message}` }),
    dataset: (dataset: DatasetInput) => told.push({ type: 'dataset', value: dataset }),
    importProgress: () => undefined,
    stopRequested: () => null,
  };
  return { ctx, told };
}

const data = (source: string) => ({ source, limitTrain: null, limitVal: null, import: null });

describe('the job process’s jobs', () => {
  it('open-data: the model fields the data gives, its history row, and the requested size and channels over the data’s own', async () => {
    const { ctx } = context();
    const own = await runJob({ kind: 'open-data', data: data('synthetic:classes=4,size=10,channels=1,train=8,val=4,seed=1'), cacheDir: temp() }, ctx);
    expect(own.status).toBe('finished');
    const opened = (own as { value: OpenedDataset }).value;
    expect(opened.input).toEqual({ inputSize: 10, channels: 1, classes: 4 });
    expect(opened.dataset).toMatchObject({ path: 'synthetic:classes=4,size=10,channels=1,train=8,val=4,seed=1', summary: { trainCount: 8, valCount: 4 } });
    expect(opened.record).toBeNull();
    const asked = await runJob(
      {
        kind: 'open-data',
        data: { ...data('synthetic:classes=4,size=10,channels=1,train=8,val=4,seed=1'), import: { size: 16, channels: 3 } },
        cacheDir: temp(),
      },
      ctx,
    );
    expect((asked as { value: OpenedDataset }).value.input).toEqual({ inputSize: 16, channels: 3, classes: 4 });
  });

  it('train: reports the data it opened before the run starts, then the run’s events to its end', async () => {
    const { ctx, told } = context();
    const outcome = await runJob(
      { kind: 'train', config: tinyConfig({ epochs: 1 }), data: data(SYNTHETIC), outDir: temp(), cacheDir: temp(), resume: false },
      ctx,
    );
    expect(outcome).toEqual({ status: 'finished' });
    const types = told.map((t) => t.type);
    expect(types.indexOf('dataset')).toBeLessThan(types.indexOf('started'));
    expect(types.at(-1)).toBe('finished');
  });

  it('refuses data whose classes the model does not have, before training', async () => {
    const { ctx, told } = context();
    const run = runJob({ kind: 'train', config: tinyConfig({}, { classes: 5 }), data: data(SYNTHETIC), outDir: temp(), cacheDir: temp(), resume: false }, ctx);
    await expect(run).rejects.toThrow(/the model has 5 classes but synthetic-3x12 has 3/);
    expect(told).toEqual([]);
  });
});
