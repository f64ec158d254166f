import { describe, expect, it } from 'vitest';
import { ARCH_LABELS, stemLabel } from '../../renderer/src/lib/run-labels.js';

describe('architecture and stem labels', () => {
  it('name MobileNetV2 and its own stems, which differ from the ResNets’', () => {
    expect(ARCH_LABELS.mobilenetv2).toBe('MobileNetV2');
    expect(stemLabel('mobilenetv2', 'imagenet')).toBe('ImageNet (3×3/2 conv)');
    expect(stemLabel('mobilenetv2', 'cifar')).toBe('CIFAR (3×3 conv, first stride-2 stage at stride 1)');
    expect(stemLabel('resnet18', 'imagenet')).toBe('ImageNet (7×7/2 conv + max-pool)');
    expect(stemLabel('densenet121', 'cifar')).toBe('CIFAR (3×3 conv)');
  });
});
