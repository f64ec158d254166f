import Database from 'better-sqlite3';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { png } from '../../helpers/image-files.js';
import { SYNTHETIC } from '../../helpers/store.js';

const home = mkdtempSync(join(tmpdir(), 'adjoin-history-'));
const env = { ADJOIN_HOME: home };
const db = join(home, 'adjoin.db');
afterAll(() => rmSync(home, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { env });
let runId: number;

beforeAll(() => {
  // No --db and no --out: the app's database and a run folder next to it.
  const r = cli(['train', '--data', SYNTHETIC, '--arch', 'resnet18', '--width', '0.125', '--alpha', '2', '--epochs', '2', '--batch', '16', '--json']);
  expect(r.status, r.stderr).toBe(0);
  runId = Number(/run (\d+): recording in/.exec(r.stderr)![1]);
});

describe('the history from the command line', () => {
  it('adjoin train records its run in the data folder’s database, files in runs/<id>', () => {
    expect(existsSync(db)).toBe(true);
    expect(readdirSync(join(home, 'runs', String(runId))).sort()).toEqual(
      expect.arrayContaining(['checkpoint.ckpt', 'network.adjoin', 'run.json', 'small-tfjs', 'small.adjoin']),
    );
  });

  it('adjoin runs lists it, as a table and as JSON', () => {
    const json = cli(['runs', '--json']);
    expect(json.status).toBe(0);
    const runs = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(runs[0]).toMatchObject({ id: runId, status: 'finished', arch: 'resnet18', mode: 'an', alpha: 2, epochs: 2, epochsDone: 2, backend: 'wasm' });
    const table = cli(['runs', '--db', db]);
    expect(table.stdout.split('\n')[0]).toMatch(/^id\s+status\s+created\s+model/);
    expect(table.stdout).toMatch(new RegExp(`^${runId}\\s+finished\\s+.*resnet18 cifar w0.125 AN α=2.*2/2`, 'm'));
  });

  it('adjoin show gives config, metrics and (after export) latency, speed-up and MAC ratio', () => {
    let r = cli(['show', String(runId), '--json']);
    expect(r.status).toBe(0);
    const details = JSON.parse(r.stdout) as { run: { config: { epochs: number } }; epochs: unknown[]; models: unknown[] };
    expect(details.run.config.epochs).toBe(2);
    expect(details.epochs).toHaveLength(2);
    expect(details.models).toEqual([]);

    const out = join(home, 'phone-model');
    r = cli(['export', `#${runId}`, '--format', 'onnx', '--out', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const [m] = JSON.parse(r.stdout) as Array<{ network: string; latencyMs: number; macRatio: number; latencySpeedup: number }>;
    expect(m).toMatchObject({ network: 'small' });
    expect(m!.latencySpeedup).toBeGreaterThan(0);
    expect(readdirSync(out).sort()).toEqual(['labels.txt', 'metadata.json', 'model.onnx']);

    r = cli(['show', String(runId)]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^run ${runId}: finished`));
    expect(r.stdout).toMatch(/epoch\s+train loss\s+val full\s+val small/);
    expect(r.stdout).toMatch(/#\d+ small onnx fp32/);
    expect(r.stdout).toMatch(/batch-1 CPU latency [\d.]+ ms; full [\d.]+ ms: [\d.]+× faster, [\d.]+× fewer MACs/);
    expect(r.stdout).toMatch(/stored files: intact/);

    // --fp16 is still --precision fp16.
    r = cli(['export', String(runId), '--format', 'tfjs', '--fp16', '--out', join(home, 'web-model')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`exported run ${runId}'s small network as TF.js fp16`));

    // TFLite int8 from the command line (24 validation images: one flip is 4 points, so the limit is opened here).
    r = cli([
      'export',
      String(runId),
      '--format',
      'tflite',
      '--precision',
      'int8',
      '--calibration',
      '32',
      '--max-drop',
      '100',
      '--out',
      join(home, 'tfl'),
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const [q] = JSON.parse(r.stdout) as Array<{ format: string; precision: string; verification: { required: { maxAccuracyDrop: number } } }>;
    expect(q).toMatchObject({ format: 'tflite', precision: 'int8', verification: { required: { maxAccuracyDrop: 100 } } });
    // Progress goes to stderr as the checks run.
    expect(r.stderr).toMatch(/adjoin: calibrating on 32 training images…/);
    expect(readdirSync(join(home, 'tfl')).sort()).toEqual(['labels.txt', 'metadata.json', 'model.tflite']);
    r = cli(['show', String(runId)]);
    expect(r.stdout).toMatch(/#\d+ small tflite int8/);
    expect(r.stdout).toMatch(/float32 [\d.]+ ms: [\d.]+× faster/);

    // A folder with the user's own model.onnx: refused in one line, replaced with --overwrite.
    const theirs = join(home, 'theirs');
    mkdirSync(theirs);
    writeFileSync(join(theirs, 'model.onnx'), 'not Adjoin’s');
    r = cli(['export', String(runId), '--format', 'onnx', '--out', theirs]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/already holds model\.onnx, which Adjoin did not write; .*--overwrite/);
    expect(readFileSync(join(theirs, 'model.onnx'), 'utf8')).toBe('not Adjoin’s');
    r = cli(['export', String(runId), '--format', 'onnx', '--out', theirs, '--overwrite']);
    expect(r.status, r.stderr).toBe(0);
  });

  it('adjoin latency times the exported folders side by side, each in its own runtime, and names a folder that is not an export', () => {
    const folders = { onnx: join(home, 'phone-model'), tflite: join(home, 'tfl'), tfjs: join(home, 'web-model') };
    let r = cli(['latency', folders.onnx, `int8=${folders.tflite}`, folders.tfjs, '--runs', '7', '--warmup', '2', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const timings = JSON.parse(r.stdout) as Array<{
      label: string;
      format: string;
      precision: string;
      sourceRunId: number;
      macs: number;
      latency: { medianMs: number; runs: number; warmup: number; threads: number; runtime: string };
    }>;
    expect(timings.map((t) => [t.label, t.format, t.precision])).toEqual([
      ['phone-model', 'onnx', 'fp32'],
      ['int8', 'tflite', 'int8'],
      ['web-model', 'tfjs', 'fp16'],
    ]);
    for (const t of timings) {
      const meta = JSON.parse(readFileSync(join(Object.values(folders)[timings.indexOf(t)]!, 'metadata.json'), 'utf8')) as { macs: number };
      expect(t.sourceRunId).toBe(runId);
      expect(t.macs).toBe(meta.macs);
      expect(t.latency).toMatchObject({ runs: 7, warmup: 2, threads: 1 });
      expect(t.latency.medianMs).toBeGreaterThan(0);
    }
    expect(new Set(timings.map((t) => t.latency.runtime)).size).toBe(3);
    expect(r.stderr).toMatch(/adjoin: timing 1 tflite model batch-1 in LiteRT/);

    r = cli(['latency', folders.onnx, `small=${folders.tfjs}`, '--runs', '3']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^model\s+network\s+format\s+params\s+MACs\s+val top-1\s+batch-1 median/);
    expect(r.stdout).toMatch(/^phone-model\s+resnet18 small\s+onnx fp32\s+.*\d\.\d{3} ms$/m);
    expect(r.stdout).toMatch(/^small\s+resnet18 small\s+tfjs fp16/m);
    expect(r.stdout).toMatch(/median of 3 runs after 5 warm-up runs/);

    const notExport = join(home, 'not-an-export');
    mkdirSync(notExport);
    const missing = join(home, 'missing-model');
    mkdirSync(missing);
    writeFileSync(join(missing, 'metadata.json'), readFileSync(join(folders.onnx, 'metadata.json')));
    const escapes = join(home, 'escapes');
    mkdirSync(escapes);
    const meta = JSON.parse(readFileSync(join(folders.onnx, 'metadata.json'), 'utf8')) as { files: string[]; input: unknown };
    writeFileSync(join(escapes, 'metadata.json'), JSON.stringify({ ...meta, files: ['../phone-model/model.onnx'] }));
    const noInput = join(home, 'no-input');
    mkdirSync(noInput);
    writeFileSync(join(noInput, 'metadata.json'), JSON.stringify({ ...meta, input: null }));
    for (const [args, message] of [
      [[escapes], `${join(escapes, 'metadata.json')} lists "../phone-model/model.onnx", not a file name in its folder`],
      [[noInput], `${join(noInput, 'metadata.json')} has no four-dimensional input shape`],
      [[notExport], `${notExport} has no metadata.json: it is not a folder written by adjoin export`],
      [[missing], `${join(missing, 'model.onnx')} is missing (metadata.json lists it)`],
      [[folders.onnx, `phone-model=${folders.tfjs}`], 'two folders are named phone-model: name them (label=DIR)'],
      [[join(home, 'nowhere')], `${join(home, 'nowhere')} is not a folder`],
      [[folders.onnx, '--runs', '0'], '--runs must be at least 1 (got 0)'],
      [[], 'give one or more folders written by adjoin export'],
    ] as const) {
      r = cli(['latency', ...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });

  it('adjoin show flags a stored export whose bytes changed, and exits 1', () => {
    const d = new Database(db);
    d.prepare("UPDATE model_files SET data = zeroblob(byte_size) WHERE name = 'model.onnx'").run();
    d.close();
    const r = cli(['show', String(runId)]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/stored files: CORRUPTED: model\.onnx no longer match their SHA-256/);
  });

  it.each([
    ['an unknown run', ['show', '999'], /there is no run 999 in .*adjoin\.db/],
    ['a run id that is not one', ['show', 'latest'], /a run id is a positive integer, got 'latest'/],
    ['no run id', ['export', '--format', 'onnx', '--out', 'x'], /adjoin export needs a run id/],
    ['a bad --format', ['export', '1', '--format', 'coreml', '--out', 'x'], /--format must be one of onnx, tflite, tfjs, got 'coreml'/],
    ['a bad --precision', ['export', '1', '--format', 'onnx', '--precision', 'int4', '--out', 'x'], /--precision must be one of fp32, fp16, int8, got 'int4'/],
    ['int8 TF.js', ['export', '1', '--format', 'tfjs', '--precision', 'int8', '--out', 'x'], /TF\.js exports are fp32 or fp16, not int8/],
    [
      '--fp16 with another precision',
      ['export', '1', '--format', 'onnx', '--fp16', '--precision', 'int8', '--out', 'x'],
      /--fp16 is --precision fp16; it cannot go with --precision int8/,
    ],
    [
      'an empty calibration set',
      ['export', '1', '--format', 'onnx', '--precision', 'int8', '--calibration', '0', '--out', 'x'],
      /--calibration must be a whole number of training images, at least 1; got 0/,
    ],
    [
      'a --max-drop that is no number',
      ['export', '1', '--format', 'onnx', '--precision', 'int8', '--max-drop', 'lots', '--out', 'x'],
      /--max-drop must be a number, got 'lots'/,
    ],
    ['no --format', ['export', '1', '--out', 'x'], /--format is required/],
    ['no --out', ['export', '1', '--format', 'onnx'], /--out is required/],
    ['a database that does not exist', ['runs', '--db', join(tmpdir(), 'no-such-adjoin.db')], /there is no Adjoin database at/],
    ['an unknown flag', ['delete', '1', '--force'], /--force/],
  ])('%s: one line, exit 2', (_name, args, message) => {
    const r = cli(args as string[]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message as RegExp);
  });

  it('exporting a run trained on an image folder checks the export on that folder’s validation images', async () => {
    const pics = join(home, 'pics');
    const colours: Record<string, [number, number, number]> = { red: [220, 20, 20], green: [20, 200, 40], blue: [30, 30, 210] };
    for (const [name, rgb] of Object.entries(colours)) {
      for (let i = 0; i < 6; i++) await png(join(pics, name, `${i}.png`), 20 + i, 18, rgb.map((v) => Math.max(0, v - 9 * i)) as [number, number, number]);
    }
    const other = join(home, 'other.db');
    const r = cli([
      'train',
      '--data',
      pics,
      '--size',
      '16',
      '--val-split',
      '0.34',
      '--arch',
      'resnet18',
      '--width',
      '0.125',
      '--alpha',
      '2',
      '--epochs',
      '1',
      '--batch',
      '6',
      '--db',
      other,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const id = /run (\d+): recording in/.exec(r.stderr)![1]!;
    const x = cli(['export', id, '--format', 'onnx', '--out', join(home, 'pics-model'), '--json', '--db', other]);
    expect(x.status, x.stderr).toBe(0);
    const [m] = JSON.parse(x.stdout) as Array<{ verification: { validationSamples: number; note: string | null } }>;
    expect(m!.verification.validationSamples).toBeGreaterThanOrEqual(3);
  });

  it('adjoin delete removes the run, its stored exports and the folder Adjoin made for it', () => {
    const r = cli(['delete', String(runId)]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`deleted run ${runId} .*\\(4 stored exports`));
    expect(r.stdout).toMatch(/removed its folder/);
    expect(existsSync(join(home, 'runs', String(runId)))).toBe(false);
    // The exported files the user asked for stay where they are.
    expect(existsSync(join(home, 'phone-model', 'model.onnx'))).toBe(true);
    expect(cli(['show', String(runId)]).status).toBe(2);
    const d = new Database(db, { readonly: true });
    expect((d.prepare('SELECT count(*) AS n FROM model_files').get() as { n: number }).n).toBe(0);
    d.close();
  });
});
