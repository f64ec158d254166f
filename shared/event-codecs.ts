import { BACKEND_ORDER, type BackendInfo } from './backend.js';
import { arr, type Decoder, int, nullable, num, obj, oneOf, optional, str } from './decode.js';
import type { DataInfo, EpochEvent, PathMetrics, RunOutputs } from './events.js';
import type { Cost } from './model/cost.js';

/**
 * Decoders of what runs write and read back: the history's JSON columns,
 * checkpoints, a teacher's bundle. What comes off a disk is checked once,
 * here; the code that reads it trusts the types.
 */

export const cost: Decoder<Cost> = obj({ params: int, macs: int });

/** The backend an engine reported: kind, badge, device, and why each faster backend was passed over. */
export const backendInfo: Decoder<BackendInfo> = obj({
  kind: oneOf(BACKEND_ORDER),
  name: str,
  label: oneOf(['GPU', 'CPU', 'WASM'] as const),
  device: str,
  skipped: arr(obj({ kind: oneOf(BACKEND_ORDER), reason: str })),
});

export const dataInfo: Decoder<DataInfo> = obj({
  name: str,
  source: str,
  classes: arr(str),
  trainCount: int,
  valCount: int,
  height: int,
  width: int,
  channels: int,
  mean: arr(num),
  std: arr(num),
  fingerprint: optional(str),
});

export const runOutputs: Decoder<RunOutputs> = obj({
  network: str,
  small: nullable(obj({ bundle: str, tfjs: str })),
  summary: str,
});

const pathMetrics: Decoder<PathMetrics> = obj({ accuracy: num, loss: num });

/** An epoch's figures, as a training run keeps them in its checkpoint and `run.json`. */
export const epochEvent: Decoder<EpochEvent> = obj({
  type: oneOf(['epoch'] as const),
  time: num,
  epoch: int,
  epochs: int,
  trainLoss: num,
  trainAccuracy: obj({ full: nullable(num), small: nullable(num) }),
  val: obj({ full: nullable(pathMetrics), small: nullable(pathMetrics) }),
  lambda: num,
  lr: num,
  seconds: num,
});
