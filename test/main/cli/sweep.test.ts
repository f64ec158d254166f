import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../../main/store/open.js';
import { expandGrid } from '../../../shared/sweep.js';
import { ADJOIN_BIN, runCli } from '../../helpers/cli.js';
import { tempDirs } from '../../helpers/store.js';

const tempDir = tempDirs('adjoin-sweep-cli-');
const data = 'synthetic:classes=3,size=12,train=48,val=24';
const grid = ['--arch', 'resnet18', '--width', '0.125', '--epochs', '3', '--batch', '16', '--modes', 'standard,kd,an', '--alpha', '2', '--seeds', '0,1'];

interface CellEvent {
  type: string;
  cell: { key: string };
  runId: number | null;
  state: string;
}

/**
 * Starts `adjoin sweep --json` and SIGKILLs it once one run has finished and
 * another is running: the sweep is then part done, part in flight.
 */
function sweepKilledMidway(db: string, home: string): Promise<{ killed: boolean; events: CellEvent[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ADJOIN_BIN, 'sweep', '--data', data, ...grid, '--parallel', '1', '--db', db, '--json'], {
      env: { ...process.env, ADJOIN_BACKEND: 'wasm', ADJOIN_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: CellEvent[] = [];
    let buffered = '';
    let killed = false;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const e = JSON.parse(line) as CellEvent;
        if (e.type !== 'sweep-cell') continue;
        events.push(e);
        const finished = events.some((x) => x.state === 'finished');
        if (!killed && finished && e.state === 'running') killed = child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`sweep exited ${code} before it could be killed: ${stderr}`));
      else resolve({ killed, events });
    });
  });
}

describe('adjoin sweep', () => {
  it('resumes a sweep killed mid-way without repeating or losing a run, kd taught by its own seed', async () => {
    const dir = tempDir();
    const db = join(dir, 'adjoin.db');
    const { killed, events } = await sweepKilledMidway(db, dir);
    expect(killed).toBe(true);
    const inFlight = events.filter((e) => e.state === 'running').at(-1)!;

    const resumed = runCli(['sweep', 'resume', '1', '--db', db, '--json', '--out', join(dir, 'report')], { env: { ADJOIN_HOME: dir }, timeout: 300_000 });
    expect(resumed.status, resumed.stderr).toBe(0);
    const result = JSON.parse(resumed.stdout.trim().split('\n').at(-1)!) as { type: string; stats: Array<{ label: string; seeds: number[] }> };
    expect(result.type).toBe('sweep-result');
    // Without --small-ce the an runs take the default (short) recipe's β = 1.
    expect(result.stats.map((s) => [s.label, s.seeds])).toEqual([
      ['standard', [0, 1]],
      ['an α=2, β=1', [0, 1]],
      ['kd α=2', [0, 1]],
    ]);

    const store = openStore(db);
    try {
      const sweep = store.sweeps.require(1);
      expect(sweep.status).toBe('finished');
      const cells = expandGrid(sweep.spec);
      const runIds = cells.map((c) => sweep.cells.get(c.key)?.runId);
      // One run per cell, and no run outside the grid: nothing repeated, nothing lost.
      expect(new Set(runIds).size).toBe(cells.length);
      expect(
        store.runs
          .list()
          .map((r) => r.id)
          .sort((a, b) => a - b),
      ).toEqual([...runIds].sort((a, b) => a! - b!));
      for (const id of runIds) {
        const run = store.runs.require(id!);
        expect(run.status).toBe('finished');
        expect(run.config.schedule.kind).toBe('onecycle');
        expect(store.metrics.epochs(id!).map((e) => e.epoch)).toEqual([1, 2, 3]);
      }
      // The run the kill interrupted continued in its own row.
      expect(runIds).toContain(inFlight.runId);
      for (const seed of [0, 1]) {
        const kd = store.runs.require(sweep.cells.get(`kd-a2-s${seed}`)!.runId!);
        expect(kd.config.mode === 'kd' ? kd.config.kd.teacherRun : null).toBe(sweep.cells.get(`standard-s${seed}`)!.runId);
      }
    } finally {
      store.close();
    }
    expect(readFileSync(join(dir, 'report', 'table.md'), 'utf8')).toMatch(/\| kd α=2 \| 2 \| – \| \d+\.\d\d ± \d+\.\d\d \|/);
    expect(
      readFileSync(join(dir, 'report', 'plot.png'))
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    expect(existsSync(join(dir, 'report', 'plot.svg'))).toBe(true);

    // A later sweep of one more α on the same data and schedule reads as one table with the first.
    const more = runCli(['sweep', '--data', data, ...grid.slice(0, 8), '--modes', 'an', '--alpha', '4', '--seeds', '0', '--db', db], {
      env: { ADJOIN_HOME: dir },
    });
    expect(more.status, more.stderr).toBe(0);
    const both = runCli(['sweep', 'show', '1,2', '--db', db, '--json'], { env: { ADJOIN_HOME: dir } });
    const combined = JSON.parse(both.stdout.trim().split('\n').at(-1)!) as { stats: Array<{ label: string }> };
    expect(combined.stats.map((s) => s.label)).toEqual(['standard', 'an α=2, β=1', 'kd α=2', 'an α=4, β=1']);
    const otherRecipe = runCli(
      ['sweep', '--data', data, ...grid.slice(0, 4), '--epochs', '1', '--batch', '16', '--modes', 'standard', '--seeds', '0', '--recipe', 'cifar', '--db', db],
      { env: { ADJOIN_HOME: dir } },
    );
    expect(otherRecipe.status, otherRecipe.stderr).toBe(0);
    const refused = runCli(['sweep', 'show', '1,3', '--db', db], { env: { ADJOIN_HOME: dir } });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/sweeps 1 and 3 differ in epochs/);
    // The sweep's runs follow the recipe it was given.
    const third = openStore(db);
    try {
      const cifarRun = third.runs.require(third.sweeps.require(3).cells.get('standard-s0')!.runId!);
      expect(cifarRun.config.schedule.kind).toBe('multistep');
      expect(cifarRun.config.optimizer).toMatchObject({ kind: 'sgd', lr: 0.05, nesterov: false });
    } finally {
      third.close();
    }

    // A sweep of another history database (FILE:ID) reads as one table with this one's.
    const other = join(dir, 'other-machine.db');
    copyFileSync(db, other);
    const across = runCli(['sweep', 'show', `1,${other}:2`, '--db', db], { env: { ADJOIN_HOME: dir } });
    expect(across.status, across.stderr).toBe(0);
    expect(across.stdout).toContain(`sweep 2 of ${other} (finished`);
    expect(across.stdout).toContain(`sweeps 1, ${other}:2:`);
    const acrossJson = runCli(['sweep', 'show', `1,${other}:2`, '--db', db, '--json'], { env: { ADJOIN_HOME: dir } });
    expect(JSON.parse(acrossJson.stdout.trim().split('\n').at(-1)!)).toEqual(JSON.parse(both.stdout.trim().split('\n').at(-1)!));
    for (const [ids, message] of [
      [`1,${join(dir, 'nowhere.db')}:2`, /nowhere\.db/],
      [`1,${other}:9`, /there is no sweep 9 in .*other-machine\.db/],
      [`${other}:x`, /a sweep id is a positive integer \(or FILE:ID\), got '.*other-machine\.db:x'/],
      [`${other}:1,${other}:1`, /sweep ids repeat/],
    ] as const) {
      const r = runCli(['sweep', 'show', ids, '--db', db], { env: { ADJOIN_HOME: dir } });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    }

    const list = runCli(['sweep', 'list', '--db', db, '--json'], { env: { ADJOIN_HOME: dir } });
    expect(JSON.parse(list.stdout)).toMatchObject([{ id: 3 }, { id: 2 }, { id: 1, status: 'finished', runs: 6 }]);
  }, 600_000);

  it.each([
    [['--modes', 'small,kd', '--alpha', '2'], /kd runs are taught by the standard run of their seed/],
    [['--seeds', '0,x'], /--seeds has 'x', not an integer/],
    [['--alpha', '3'], /α must be one of/],
    [['--modes', 'an,turbo'], /--modes has 'turbo'/],
  ])('refuses %j before it trains anything', (args, message) => {
    const dir = tempDir();
    const r = runCli(['sweep', '--data', data, '--epochs', '1', '--db', join(dir, 'a.db'), ...(args as string[])], { env: { ADJOIN_HOME: dir } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(existsSync(join(dir, 'a.db'))).toBe(false);
  });

  it('names a sweep that does not exist', () => {
    const dir = tempDir();
    openStore(join(dir, 'a.db')).close();
    const r = runCli(['sweep', 'show', '4', '--db', join(dir, 'a.db')], { env: { ADJOIN_HOME: dir } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/there is no sweep 4 in .*a\.db \(see adjoin sweep list\)/);
  });
});
