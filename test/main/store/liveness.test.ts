import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordRun } from '../../../main/jobs/host/record-run.js';
import { deathOf, pidAlive, STALE_MS, type LivenessProbe } from '../../../main/store/liveness.js';
import { openStore } from '../../../main/store/open.js';
import { tempDirs, tinyConfig } from '../../helpers/store.js';

const temp = tempDirs('adjoin-liveness-');
const NOW = 1_700_000_000_000;

function probe(o: Partial<LivenessProbe> = {}): LivenessProbe {
  return { pid: 100, host: 'desk', now: () => NOW, isAlive: () => false, ownsRun: () => false, ...o };
}

describe('pidAlive', () => {
  it.runIf(process.platform === 'linux')('takes a killed process nobody has collected yet (a zombie) for dead', async () => {
    // sh starts a short sleep in the background and becomes a long one, which never waits for
    // its child: once the short sleep ends (after the exec, so sh cannot collect it) it is a zombie.
    const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const [line] = (await once(parent.stdout, 'data')) as [Buffer];
    const zombie = Number(line.toString().trim());
    try {
      // The kernel says when the short sleep has ended uncollected: its state in /proc turns Z.
      while (!/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${zombie}/stat`, 'utf8'))) await new Promise((r) => setTimeout(r, 20));
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(pidAlive(zombie)).toBe(false);
      expect(pidAlive(parent.pid!)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('telling a live run owner from a dead one', () => {
  const fresh = NOW - 1000;
  const stale = NOW - STALE_MS - 1;
  it.each([
    ['a gone process on this host', { pid: 7, host: 'desk', heartbeatAt: fresh }, {}, /pid 7 on desk\) is gone/],
    ['a live process, fresh heartbeat', { pid: 7, host: 'desk', heartbeatAt: fresh }, { isAlive: (): boolean => true }, null],
    [
      'a live pid whose heartbeat went stale (a reused pid)',
      { pid: 7, host: 'desk', heartbeatAt: stale },
      { isAlive: (): boolean => true },
      /not been heard from/,
    ],
    ['our own pid, left over from an earlier process', { pid: 100, host: 'desk', heartbeatAt: fresh }, {}, /is gone/],
    ['our own pid, and this process records it', { pid: 100, host: 'desk', heartbeatAt: fresh }, { ownsRun: (): boolean => true }, null],
    ['another host, fresh heartbeat', { pid: 7, host: 'gpu-box', heartbeatAt: fresh }, {}, null],
    ['another host, stale heartbeat', { pid: 7, host: 'gpu-box', heartbeatAt: stale }, {}, /gpu-box\) has not been heard from since/],
    ['no owner recorded (an older schema)', { pid: null, host: null, heartbeatAt: null }, {}, /before run owners were tracked/],
  ] as const)('%s', (_name, owner, p, expected) => {
    const why = deathOf('db', 1, owner, probe(p));
    if (expected === null) expect(why).toBeNull();
    else expect(why).toMatch(expected);
  });

  it('on open, marks runs of dead owners interrupted, keeping the checkpoint; leaves live and unclaimed ones', () => {
    const file = join(temp(), 'adjoin.db');
    let store = openStore(file);
    const dead = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: '/r/1', owner: { pid: 7, host: 'desk' } }, NOW - 5000);
    store.db.prepare("UPDATE runs SET status = 'running', checkpoint_path = '/r/1/checkpoint.ckpt', heartbeat_at = ? WHERE id = ?").run(NOW - 4000, dead);
    const live = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: { pid: 8, host: 'desk' } }, NOW - 5000);
    store.db.prepare("UPDATE runs SET status = 'running' WHERE id = ?").run(live);
    const unclaimed = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, NOW);
    const deadQueued = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: { pid: 9, host: 'desk' } }, NOW);
    store.close();

    store = openStore(file, { liveness: probe({ isAlive: (pid) => pid === 8 }) });
    const r = store.runs.require(dead);
    expect(r.status).toBe('interrupted');
    expect(r.checkpointPath).toBe('/r/1/checkpoint.ckpt');
    expect(r.error).toMatch(/pid 7 .* is gone; resume it from \/r\/1\/checkpoint\.ckpt/);
    expect(r.finishedAt).toBe(NOW - 4000);
    expect(r.owner.pid).toBeNull();
    expect(store.runs.require(live).status).toBe('running');
    expect(store.runs.require(unclaimed).status).toBe('queued');
    expect(store.runs.require(deadQueued).status).toBe('interrupted');
    expect(store.runs.require(deadQueued).error).toMatch(/it had no checkpoint yet/);
    store.close();
  });

  it('with real processes: a live child keeps its run, a killed one loses it', async () => {
    const file = join(temp(), 'adjoin.db');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await once(child, 'spawn');
    let store = openStore(file);
    const id = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: { pid: child.pid!, host: hostname() } }, Date.now());
    store.db.prepare("UPDATE runs SET status = 'running' WHERE id = ?").run(id);
    store.close();

    store = openStore(file);
    expect(store.runs.require(id).status).toBe('running');
    store.close();

    child.kill('SIGKILL');
    // Reaped, so the pid is really gone (a zombie still answers kill(pid, 0)).
    await once(child, 'exit');
    store = openStore(file);
    expect(store.runs.require(id).status).toBe('interrupted');
    store.close();
  });

  it('a recorder in this process keeps its run alive for other connections, and takes it back if judged dead', () => {
    const file = join(temp(), 'adjoin.db');
    const store = openStore(file);
    const id = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: { pid: process.pid, host: hostname() } }, Date.now());
    const recorder = recordRun(store, id);
    store.db.prepare("UPDATE runs SET status = 'running' WHERE id = ?").run(id);
    // Another connection in this process (the app's UI, say) opens the store.
    const other = openStore(file);
    expect(other.runs.require(id).status).toBe('running');
    // Someone on another host judged it dead while its event loop was blocked…
    other.db.prepare("UPDATE runs SET status = 'interrupted', owner_pid = NULL, error = 'interrupted: …' WHERE id = ?").run(id);
    // …its next event takes it back.
    recorder.emit({ type: 'checkpoint', time: Date.now(), epoch: 1, step: 0, path: '/c.ckpt' });
    expect(other.runs.require(id)).toMatchObject({ status: 'running', error: null, owner: { pid: process.pid } });
    recorder.close();
    other.close();
    store.close();
  });
});
