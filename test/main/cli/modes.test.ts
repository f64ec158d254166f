import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-modes-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const db = join(root, 'adjoin.db');
const data = 'synthetic:classes=3,size=12,train=48,val=24';
const common = ['--arch', 'resnet18', '--width', '0.125', '--epochs', '1', '--batch', '16', '--db', db, '--json'];

const lastEvent = (stdout: string): Record<string, unknown> => JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;

describe('adjoin train --mode small and kd', () => {
  it('trains the small architecture alone, then distils it from a standard run given by its id', () => {
    const teacher = runCli(['train', '--data', data, '--mode', 'standard', ...common]);
    expect(teacher.status).toBe(0);
    const teacherId = Number(/run (\d+):/.exec(teacher.stderr)![1]);

    const small = runCli(['train', '--data', data, '--mode', 'small', '--alpha', '2', ...common]);
    expect(small.status).toBe(0);
    expect(lastEvent(small.stdout)).toMatchObject({ type: 'finished', val: { full: null } });

    const kd = runCli(['train', '--data', data, '--mode', 'kd', '--alpha', '2', '--teacher', String(teacherId), ...common]);
    expect(kd.status).toBe(0);
    const started = JSON.parse(kd.stdout.split('\n')[0]!) as { config: { kd: { teacherRun: number; temperature: number } } };
    expect(started.config.kd).toMatchObject({ teacherRun: teacherId, temperature: 4 });

    // A teacher from other images is refused, naming the reason; so is an adjoined run.
    const other = runCli([
      'train',
      '--data',
      'synthetic:classes=3,size=12,train=48,val=24,seed=9',
      '--mode',
      'kd',
      '--alpha',
      '2',
      '--teacher',
      String(teacherId),
      ...common,
    ]);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/teacher run \d+ was trained on other images/);
    const anRun = runCli(['train', '--data', data, '--mode', 'an', '--alpha', '2', ...common]);
    const anId = Number(/run (\d+):/.exec(anRun.stderr)![1]);
    const notStandard = runCli(['train', '--data', data, '--mode', 'kd', '--alpha', '2', '--teacher', String(anId), ...common]);
    expect(notStandard.status).toBe(2);
    expect(notStandard.stderr).toMatch(/is an adjoined run; kd distils the full network of a standard run/);
  });

  it('trains on as many engines as --workers asks (one per core by default)', () => {
    const r = runCli(['train', '--data', data, '--mode', 'an', '--alpha', '2', '--workers', '2', ...common]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.split('\n')[0]!)).toMatchObject({ type: 'started', backend: { device: expect.stringMatching(/2 engines in parallel$/) } });
  });

  it.each([
    [['--mode', 'an', '--alpha', '2', '--workers', '0'], /--workers must be at least 1/],
    [['--mode', 'kd', '--alpha', '2'], /--mode kd needs --teacher/],
    [['--mode', 'an', '--teacher', '1'], /--teacher applies to --mode kd only/],
    [['--mode', 'kd', '--alpha', '2', '--teacher', '1', '--kd-weight', '2'], /distillation weight must be from 0 to 1/],
    [['--mode', 'standard', '--alpha', '4'], /--alpha applies to --mode an, small and kd/],
  ])('refuses %j', (args, message) => {
    const r = runCli(['train', '--data', data, ...(args as string[]), ...common]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
  });
});
