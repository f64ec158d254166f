import type { SearchConfig } from '../../shared/dan.js';
import type { AlphaSpec, ModelConfig } from '../../shared/model/config.js';
import { DEFAULT_LOSS, recipe, trainConfigOf, type KdConfig, type TrainConfig, type TrainMode, type TrainSettings } from '../../shared/train-config.js';

/** Any shared setting, and the mode with its own parts (α for the compressed modes, the teacher for kd). */
export type TinyOverrides = Partial<TrainSettings> & { mode?: TrainMode; alpha?: AlphaSpec | null; kd?: KdConfig };

/**
 * A tiny adjoined ResNet-18 (12×12×1 inputs, 3 classes, width 0.125) that
 * trains in about a second on wasm; `overrides` and `model` change any part.
 */
export function tinyConfig(overrides: TinyOverrides = {}, model: Partial<ModelConfig> = {}): TrainConfig {
  const { mode = 'an', alpha, kd, ...settings } = overrides;
  const base: TrainSettings = {
    model: { arch: 'resnet18', stem: 'cifar', inputSize: 12, channels: 1, classes: 3, width: 0.125, compressFirstStage: false, ...model },
    epochs: 2,
    batchSize: 16,
    ...recipe('cifar'),
    loss: DEFAULT_LOSS,
    seed: 1,
    checkpointEvery: 1,
    ...settings,
  };
  return trainConfigOf(base, mode, alpha === undefined ? (mode === 'standard' ? null : 2) : alpha, kd ?? null);
}

/**
 * A DAN search in the paper's mode (γ, τ by epoch, no budget) on a small
 * ResNet-18: the shape stored searches had before budgets; `over` changes any part.
 */
export function paperSearchConfig(model: ModelConfig, over: Partial<SearchConfig> = {}): SearchConfig {
  return {
    model,
    space: [1, 2, 4, 8, 16],
    gamma: 1,
    epochs: 2,
    batchSize: 16,
    ...recipe('cifar'),
    archLr: 0.05,
    loss: DEFAULT_LOSS,
    tau: { initial: 15, decay: 0.045 },
    noise: 'fresh',
    seed: 0,
    checkpointEvery: 1,
    ...over,
  };
}
