import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('adjoin cost', () => {
  it('prints {full, small, layers} as JSON with the torchvision figures', () => {
    const r = runCli(['cost', '--arch', 'resnet50', '--stem', 'imagenet', '--input', '224', '--channels', '3', '--classes', '1000', '--alpha', '4', '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { full: { params: number; macs: number }; small: { params: number; macs: number } | null; layers: unknown[] };
    expect(report.full.params).toBe(25_557_032);
    expect(Math.abs(report.full.macs / 4.09e9 - 1)).toBeLessThan(0.02);
    expect(report.small!.params).toBeLessThan(report.full.params / 4);
    expect(report.layers.length).toBeGreaterThan(100);
  });

  it("gives MobileNetV2 torchvision's 3,504,872 parameters and 300,774,272 multiply-adds, and its depthwise layers in the table", () => {
    const r = runCli(['cost', '--arch', 'mobilenetv2', '--stem', 'imagenet', '--input', '224', '--channels', '3', '--classes', '1000', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ full: { params: 3_504_872, macs: 300_774_272 }, small: null });
    const table = runCli([
      'cost',
      '--arch',
      'mobilenetv2',
      '--stem',
      'cifar',
      '--input',
      '28',
      '--channels',
      '1',
      '--classes',
      '10',
      '--width',
      '0.55',
      '--alpha',
      '4',
    ]);
    expect(table.stdout).toMatch(/^s2\.b1\.dw +28×28×48 +432 +338\.69K +108 +84\.67K$/m);
    expect(table.stdout).toMatch(/full: +814,026 parameters, 25\.82M MACs/);
  });

  it('has small: null without --alpha', () => {
    const r = runCli(['cost', '--arch', 'densenet121', '--stem', 'imagenet', '--input', '224', '--classes', '1000', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ full: { params: 7_978_856 }, small: null });
  });
});

describe('adjoin <command> --help', () => {
  it.each([['train'], ['sweep', 'show'], ['export']])('prints the usage of %s without running it', (...command) => {
    const r = runCli([...command, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage:\\n  adjoin ${command[0]} `));
    expect(r.stderr).toBe('');
  });
});

describe('bad input: one line naming the problem, exit code 2, nothing written', () => {
  const notIdx = join(root, 'not-a-dataset');
  mkdirSync(notIdx);
  writeFileSync(join(notIdx, 'readme.txt'), 'hello');
  const badIdx = join(root, 'bad-idx');
  mkdirSync(badIdx);
  writeFileSync(join(badIdx, 'train-images-idx3-ubyte'), Buffer.from([0, 0, 8, 1, 0, 0, 0, 1]));
  writeFileSync(join(badIdx, 'train-labels-idx1-ubyte'), Buffer.from([0, 0, 8, 1, 0, 0, 0, 1, 0]));
  const base = ['train', '--data', 'synthetic', '--epochs', '1'];
  it.each([
    ['unknown architecture', [...base, '--arch', 'vgg16'], /--arch must be one of .*'vgg16'/],
    ['α outside {2,4,8,16}', [...base, '--alpha', '3'], /alpha must be one of 2, 4, 8, 16, got 3/],
    ['a data folder that does not exist', ['train', '--data', join(root, 'nope')], /does not exist/],
    ['a folder in the wrong format', ['train', '--data', notIdx], /not a dataset Adjoin can read/],
    ['broken IDX files', ['train', '--data', badIdx], /bad magic number|truncated|t10k/],
    ['a width that leaves a layer with zero channels', [...base, '--width', '0.004'], /leaves layer .* with 0 channels/],
    ['a width whose small network has no channels', [...base, '--width', '0.02', '--alpha', '16'], /leaves layer .* with 0 channels in the small network/],
    ['an unknown flag', [...base, '--bogus'], /bogus/],
    ['an unknown recipe', [...base, '--recipe', 'fast'], /--recipe must be one of short, cifar, imagenet.*'fast'/],
    ['a one-cycle run with an lr of 0', [...base, '--lr', '0'], /learning rate must be positive, got 0/],
    ['a non-numeric epoch count', [...base, '--epochs', 'ten'], /--epochs must be a number/],
    [
      'a negative epoch count, with parseArgs’ hint kept',
      ['train', '--data', 'synthetic', '--epochs', '-1'],
      /argument is ambiguous \(to pass a value starting with a dash, write --epochs=-1\)$/,
    ],
    ['a negative epoch count, so written', ['train', '--data', 'synthetic', '--epochs=-1'], /epochs must be an integer from 1/],
    ['cost with an unknown architecture', ['cost', '--arch', 'foo'], /--arch must be one of/],
  ])('%s', (_name, args, message) => {
    const out = join(root, `out-${Math.random().toString(36).slice(2)}`);
    const r = runCli([...(args as string[]), ...(args[0] === 'train' ? ['--out', out] : [])], { cwd: root });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^adjoin: error: /);
    expect(lines[0]).toMatch(message as RegExp);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(root).some((f) => f === 'adjoin-runs')).toBe(false);
  });
});

describe('adjoin train', () => {
  it('prints one JSON event a line and saves the weights and the extracted small model under --out', () => {
    const out = join(root, 'run');
    const r = runCli([
      'train',
      '--data',
      'synthetic:classes=3,size=12,train=48,val=24',
      '--arch',
      'resnet18',
      '--stem',
      'cifar',
      '--width',
      '0.125',
      '--mode',
      'an',
      '--alpha',
      '2',
      '--epochs',
      '1',
      '--batch',
      '16',
      '--out',
      out,
      '--json',
    ]);
    expect(r.status).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    // The default recipe is the short one: Nesterov SGD, one cycle, peak lr 0.05 × 16/64, β = 1.
    expect(events[0]).toMatchObject({
      type: 'started',
      backend: { kind: 'wasm' },
      config: {
        optimizer: { kind: 'sgd', lr: 0.0125, nesterov: true, weightDecay: 5e-4 },
        schedule: { kind: 'onecycle', pctStart: 0.3, divFactor: 25, finalDivFactor: 1e4, momentum: { base: 0.85, max: 0.95 } },
        loss: { smallCe: 1 },
        augmentation: 'cifar',
      },
    });
    const steps = events.filter((e): e is { type: 'step'; globalStep: number; lr: number } => e.type === 'step');
    // 3 steps: the run is shorter than the warm-up, so it starts just below the peak (PyTorch: 0.049720771772545594 × 0.25).
    expect(steps[0]).toMatchObject({ globalStep: 1 });
    expect(steps[0]!.lr).toBeCloseTo(0.049720771772545594 / 4, 12);
    expect(events.map((e) => e.type)).toContain('epoch');
    expect(events.at(-1)).toMatchObject({ type: 'finished' });
    for (const f of ['network.adjoin', 'small.adjoin', 'small-tfjs/model.json', 'small-tfjs/weights.bin', 'run.json', 'checkpoint.ckpt']) {
      expect(existsSync(join(out, f))).toBe(true);
    }
  });
});
