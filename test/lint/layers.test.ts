import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layering rules of eslint.config.js, tried on code that breaks them:
 * each snippet is linted as if it lived at the given path.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const eslint = new ESLint({ cwd: root });

async function restricted(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${path}` });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-globals').map((m) => m.message);
}

const svelte = (script: string): string => `<script lang="ts">\n${script}\n</script>\n\n<p>{String(x)}</p>\n`;

describe('layers', () => {
  it('a Svelte component may not reach Node, the engine or the main side', async () => {
    expect(await restricted('renderer/src/components/Probe.svelte', svelte("import { readFileSync } from 'node:fs';\nconst x = readFileSync;"))).toEqual([
      expect.stringMatching(/the renderer only talks to the API/),
    ]);
    expect(
      await restricted('renderer/src/components/Probe.svelte', svelte("import { train } from '../../../main/engine/train.js';\nconst x = train;")),
    ).toHaveLength(1);
    expect(
      await restricted(
        'renderer/src/components/Probe.svelte',
        svelte("import { ARCHITECTURES } from '../../../shared/model/config.js';\nconst x = ARCHITECTURES;"),
      ),
    ).toEqual([]);
  });

  it('shared/ imports neither Node nor the DOM', async () => {
    expect(await restricted('shared/probe.ts', "import { join } from 'node:path';\nexport const x = join;")).toHaveLength(1);
    expect(await restricted('shared/probe.ts', 'export const x = window;')).toHaveLength(1);
  });

  it('a job process never opens the history; the host never runs the engine', async () => {
    expect(await restricted('main/jobs/worker/probe.ts', "import { openStore } from '../../store/open.js';\nexport const x = openStore;")).toEqual([
      expect.stringMatching(/a job process imports the engine, the exporters and shared\/ only/),
    ]);
    expect(await restricted('main/jobs/worker/probe.ts', "import Database from 'better-sqlite3';\nexport const x = Database;")).toHaveLength(1);
    expect(await restricted('main/jobs/host/probe.ts', "import { train } from '../../engine/train.js';\nexport const x = train;")).toHaveLength(1);
    expect(await restricted('main/jobs/host/probe.ts', "import * as tf from '@tensorflow/tfjs';\nexport const x = tf;")).toHaveLength(1);
  });

  it('front ends (CLI, API, server, app) reach the engine only through jobs/host', async () => {
    for (const dir of ['main/cli', 'main/api', 'main/server', 'main/app']) {
      expect(await restricted(`${dir}/probe.ts`, "import { train } from '../engine/train.js';\nexport const x = train;")).toHaveLength(1);
    }
    expect(await restricted('main/cli/probe.ts', "import { runOneShot } from '../jobs/host/one-shot.js';\nexport const x = runOneShot;")).toEqual([]);
  });

  it('the engine imports no history, job or front-end code', async () => {
    expect(await restricted('main/engine/probe.ts', "import { openStore } from '../store/open.js';\nexport const x = openStore;")).toHaveLength(1);
    expect(await restricted('main/engine/probe.ts', "import { runJob } from '../jobs/worker/run-job.js';\nexport const x = runJob;")).toHaveLength(1);
  });

  it('a queue worker has no history and runs no models; only queue code speaks to Redis', async () => {
    expect(await restricted('main/jobs/queue-worker/probe.ts', "import { openStore } from '../../store/open.js';\nexport const x = openStore;")).toEqual([
      expect.stringMatching(/a queue worker starts job processes through jobs\/host/),
    ]);
    expect(await restricted('main/jobs/queue-worker/probe.ts', "import * as tf from '@tensorflow/tfjs';\nexport const x = tf;")).toHaveLength(1);
    expect(await restricted('main/jobs/queue-worker/probe.ts', "import { hostJob } from '../host/job-host.js';\nexport const x = hostJob;")).toEqual([]);
    expect(
      await restricted('main/jobs/queue/probe.ts', "import { RemoteRuns } from '../host/queue/remote-runs.js';\nexport const x = RemoteRuns;"),
    ).toHaveLength(1);
    expect(
      await restricted('main/jobs/host/probe.ts', "import { startQueueWorker } from '../queue-worker/queue-worker.js';\nexport const x = startQueueWorker;"),
    ).toHaveLength(1);
    for (const path of ['main/engine/probe.ts', 'main/store/probe.ts', 'main/jobs/worker/probe.ts', 'main/cli/probe.ts', 'shared/probe.ts']) {
      expect(await restricted(path, "import { Queue } from 'bullmq';\nexport const x = Queue;"), path).toHaveLength(1);
    }
    expect(await restricted('main/jobs/host/queue/probe.ts', "import { Queue } from 'bullmq';\nexport const x = Queue;")).toEqual([]);
  });
});
