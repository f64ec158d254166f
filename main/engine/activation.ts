/**
 * The activation a fused batch-norm kernel applies to its output:
 * none, ReLU, or ReLU6 (min(max(x, 0), 6), MobileNet's). The gradient passes
 * where the output lies strictly inside the activation's linear range, as
 * PyTorch's ReLU6 (hardtanh) backward does.
 */
export type Activation = 'none' | 'relu' | 'relu6';

export const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'relu6'];

/** ReLU6's upper clamp. */
export const RELU6_CAP = 6;
