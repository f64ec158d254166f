import { isArchitecture, type Architecture, type ModelConfig } from '../../shared/model/config.js';

/**
 * The network a training benchmark measures: the CIFAR stem on 28×28×1
 * Fashion-MNIST-sized images, 10 classes, at the width the README's runs use
 * (ResNet-18 at 0.25; MobileNetV2 at 0.55, which lands nearest its MACs).
 */
export function benchModel(arch: Architecture = 'resnet18'): ModelConfig {
  return { arch, stem: 'cifar', inputSize: 28, channels: 1, classes: 10, width: arch === 'mobilenetv2' ? 0.55 : 0.25, compressFirstStage: false };
}

export function describeModel(m: ModelConfig, extra: string): string {
  return `${m.arch} ${m.stem}-stem width ${m.width}, ${m.inputSize}×${m.inputSize}×${m.channels}, ${m.classes} classes, ${extra}`;
}

/** `--arch NAME` from a benchmark's command line; undefined when absent. */
export function archArg(value: string | undefined): Architecture | undefined {
  if (value === undefined) return undefined;
  if (!isArchitecture(value)) throw new Error(`--arch: unknown architecture '${value}'`);
  return value;
}
