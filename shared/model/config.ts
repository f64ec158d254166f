import { InputError } from '../errors.js';

export const ARCHITECTURES = ['resnet18', 'resnet34', 'resnet50', 'resnet100', 'densenet121', 'mobilenetv2'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export const STEMS = ['cifar', 'imagenet'] as const;
/**
 * `cifar`: 3×3 stride-1 conv, no max-pool (MobileNetV2: also its first
 * stride-2 stage at stride 1). `imagenet`: 7×7 stride-2 conv and a 3×3
 * stride-2 max-pool (MobileNetV2: its own 3×3 stride-2 conv).
 */
export type Stem = (typeof STEMS)[number];

/** The compression factors of the paper's mask matrices a_α (eq. 2). */
export const AN_ALPHAS = [2, 4, 8, 16] as const;
/** The choices a DAN width group can take; 1 keeps the layer at full width. */
export const DAN_ALPHAS = [1, 2, 4, 8, 16] as const;

export interface ModelConfig {
  arch: Architecture;
  stem: Stem;
  /** Side of the square input image, in pixels. */
  inputSize: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: 1 | 3;
  classes: number;
  /** Multiplies every layer's channel count; 1 is the published architecture. */
  width: number;
  /**
   * The authors' code keeps the stem and the first stage at full width in the
   * small network (docs/ARCHITECTURE.md, "The method in the code"); true compresses the first stage too, for the
   * smallest model.
   */
  compressFirstStage: boolean;
}

/**
 * The small network's compression: one α for every adjoined layer (the
 * paper's AN), or one α per width group (what a DAN search finds).
 */
export type AlphaSpec = number | Readonly<Record<string, number>>;

export const DEFAULT_MODEL: ModelConfig = {
  arch: 'resnet18',
  stem: 'cifar',
  inputSize: 32,
  channels: 3,
  classes: 10,
  width: 1,
  compressFirstStage: false,
};

export function isArchitecture(v: unknown): v is Architecture {
  return typeof v === 'string' && (ARCHITECTURES as readonly string[]).includes(v);
}

export function isStem(v: unknown): v is Stem {
  return typeof v === 'string' && (STEMS as readonly string[]).includes(v);
}

/** Checks the fields one at a time so the message names the one at fault. */
export function validateModelConfig(c: ModelConfig): ModelConfig {
  if (!isArchitecture(c.arch)) {
    throw new InputError(`unknown architecture '${String(c.arch)}' (choose one of ${ARCHITECTURES.join(', ')})`, 'arch');
  }
  if (!isStem(c.stem)) throw new InputError(`unknown stem '${String(c.stem)}' (choose cifar or imagenet)`, 'stem');
  if (!Number.isInteger(c.inputSize) || c.inputSize < 8 || c.inputSize > 1024) {
    throw new InputError(`input size must be an integer from 8 to 1024, got ${c.inputSize}`, 'inputSize');
  }
  if (c.channels !== 1 && c.channels !== 3) throw new InputError(`channels must be 1 or 3, got ${String(c.channels)}`, 'channels');
  if (!Number.isInteger(c.classes) || c.classes < 2 || c.classes > 100000) {
    throw new InputError(`classes must be an integer of at least 2, got ${c.classes}`, 'classes');
  }
  if (!Number.isFinite(c.width) || c.width <= 0 || c.width > 8) {
    throw new InputError(`width multiplier must be in (0, 8], got ${c.width}`, 'width');
  }
  return c;
}

export function validateGlobalAlpha(alpha: number): number {
  if (!(AN_ALPHAS as readonly number[]).includes(alpha)) {
    throw new InputError(`alpha must be one of ${AN_ALPHAS.join(', ')}, got ${alpha}`, 'alpha');
  }
  return alpha;
}
