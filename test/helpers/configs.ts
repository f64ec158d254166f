import type { ModelConfig } from '../../shared/model/config.js';
import { DEFAULT_LOSS, recipe, type TrainConfig } from '../../shared/train-config.js';

/**
 * A tiny adjoined ResNet-18 (12×12×1 inputs, 3 classes, width 0.125) that
 * trains in about a second on wasm; `overrides` and `model` change any part.
 */
export function tinyConfig(overrides: Partial<TrainConfig> = {}, model: Partial<ModelConfig> = {}): TrainConfig {
  return {
    model: { arch: 'resnet18', stem: 'cifar', inputSize: 12, channels: 1, classes: 3, width: 0.125, compressFirstStage: false, ...model },
    mode: 'an',
    alpha: 2,
    epochs: 2,
    batchSize: 16,
    ...recipe('cifar'),
    loss: DEFAULT_LOSS,
    seed: 1,
    checkpointEvery: 1,
    ...overrides,
  };
}
