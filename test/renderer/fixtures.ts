import type { BackendInfo } from '../../shared/backend.js';
import type { EngineEvent, StepEvent } from '../../shared/events.js';
import type { RunDetails, RunRecord } from '../../shared/history.js';
import type { AdjoinedConfig } from '../../shared/train-config.js';

/** Engine events and history records as the main side sends them, for the renderer's reducers. */

export const WASM: BackendInfo = {
  kind: 'wasm',
  name: 'wasm',
  label: 'WASM',
  device: 'CPU (WebAssembly SIMD, XNNPACK, 1 thread)',
  skipped: [
    { kind: 'gpu', reason: 'not installed (the optional dependency @tensorflow/tfjs-node-gpu is dropped where its installer cannot download libtensorflow)' },
    { kind: 'webgpu', reason: 'no Vulkan driver: the Vulkan loader found no driver manifest' },
  ],
};

export const CONFIG: AdjoinedConfig = {
  model: { arch: 'resnet18', stem: 'cifar', inputSize: 28, channels: 1, classes: 3, width: 0.125, compressFirstStage: false },
  mode: 'an',
  alpha: 4,
  epochs: 2,
  batchSize: 64,
  optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
  schedule: { kind: 'multistep', milestones: [0.625, 0.75, 0.875], gamma: 0.1 },
  loss: { lambda: 'quadratic', c: 1, smallCe: 1 },
  augmentation: 'cifar',
  seed: 0,
  checkpointEvery: 1,
};

const DATA = {
  name: 'tiny',
  source: '/data/tiny',
  classes: ['a', 'b', 'c'],
  trainCount: 8,
  valCount: 4,
  height: 28,
  width: 28,
  channels: 1,
  mean: [0.5],
  std: [0.25],
};

export function started(): EngineEvent {
  return {
    type: 'started',
    time: 1,
    backend: WASM,
    config: CONFIG,
    cost: { full: { params: 1000, macs: 50_000 }, small: { params: 100, macs: 10_000 }, layers: [] },
    data: DATA,
    totalSteps: 4,
    stepsPerEpoch: 2,
    resumedFrom: null,
  };
}

export function step(globalStep: number, loss = 2 - globalStep * 0.1): StepEvent {
  return {
    type: 'step',
    time: 1 + globalStep,
    epoch: Math.ceil(globalStep / 2),
    step: ((globalStep - 1) % 2) + 1,
    stepsPerEpoch: 2,
    globalStep,
    totalSteps: 4,
    progress: globalStep / 4,
    loss,
    ce: loss,
    lambda: Math.min(4 * (globalStep / 4) ** 2, 1),
    lr: 0.05,
    imagesPerSecond: 100,
    etaSeconds: 4 - globalStep,
    kl: 0.1,
    smallCe: 1,
  };
}

export function epoch(n: number, full: number, small: number): EngineEvent {
  return {
    type: 'epoch',
    time: 10 + n,
    epoch: n,
    epochs: 2,
    trainLoss: 1.5,
    trainAccuracy: { full: full - 0.05, small: small - 0.05 },
    val: { full: { accuracy: full, loss: 1 }, small: { accuracy: small, loss: 1.2 } },
    lambda: 1,
    lr: 0.05,
    seconds: 3,
  };
}

export function run(over: Partial<RunRecord> = {}): RunRecord {
  return {
    id: 1,
    kind: 'train',
    datasetId: 1,
    config: CONFIG,
    search: null,
    seed: 0,
    status: 'finished',
    failureReason: null,
    error: null,
    backend: 'wasm',
    device: WASM.device,
    backendInfo: WASM,
    outDir: '/runs/1',
    checkpointPath: '/runs/1/checkpoint.ckpt',
    data: { ...DATA, valCount: 200 },
    cost: { full: { params: 176_260, macs: 7_170_000 }, small: { params: 13_900, macs: 2_240_000 } },
    totalSteps: 4,
    epochsDone: 2,
    val: { full: { accuracy: 0.18, loss: 2 }, small: { accuracy: 0.24, loss: 2.1 } },
    confusion: [
      [1, 0, 0],
      [0, 1, 0],
      [0, 1, 1],
    ],
    outputs: null,
    createdAt: 1000,
    startedAt: 1000,
    finishedAt: 2000,
    trainSeconds: 17,
    owner: { pid: null, host: null, heartbeatAt: null },
    worker: null,
    ...over,
  };
}

export function details(over: Partial<RunDetails> = {}): RunDetails {
  return { run: run(), dataset: null, epochs: [], steps: [], danChoices: [], models: [], ...over };
}
