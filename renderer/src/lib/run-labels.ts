import type { BackendInfo } from '../../../shared/backend.js';
import type { RunRecord, RunStatus } from '../../../shared/history.js';
import type { Architecture, Stem } from '../../../shared/model/config.js';
import { formatAlpha } from './format.js';

/** Names as people write them, for the tables and headings. */

export const ARCH_LABELS: Record<Architecture, string> = {
  resnet18: 'ResNet-18',
  resnet34: 'ResNet-34',
  resnet50: 'ResNet-50',
  resnet100: 'ResNet-100',
  densenet121: 'DenseNet-121',
  mobilenetv2: 'MobileNetV2',
};

export const STEM_LABELS: Record<Stem, string> = {
  cifar: 'CIFAR (3×3 conv)',
  imagenet: 'ImageNet (7×7/2 conv + max-pool)',
};

/** MobileNetV2 has stems of its own. */
const MOBILENET_STEM_LABELS: Record<Stem, string> = {
  cifar: 'CIFAR (3×3 conv, first stride-2 stage at stride 1)',
  imagenet: 'ImageNet (3×3/2 conv)',
};

/** A stem as the architecture builds it. */
export function stemLabel(arch: Architecture, stem: Stem): string {
  return (arch === 'mobilenetv2' ? MOBILENET_STEM_LABELS : STEM_LABELS)[stem];
}

/** Keyed by string: the main side may know modes this renderer was not built with. */
const MODE_LABELS: Record<string, string> = {
  standard: 'Standard',
  an: 'AN',
  small: 'Small alone',
  kd: 'Distilled (KD)',
};

export function modeLabel(run: Pick<RunRecord, 'kind' | 'config'>): string {
  if (run.kind === 'search') return 'DAN';
  return MODE_LABELS[run.config.mode] ?? run.config.mode;
}

export function alphaLabel(run: Pick<RunRecord, 'kind' | 'config' | 'search'>): string {
  if (run.kind === 'search' && run.search?.result === null) return `search ${run.search.config.space.join('/')}`;
  return run.config.mode === 'standard' ? '—' : formatAlpha(run.config.alpha);
}

export const STATUS_LABELS: Record<RunStatus, string> = {
  queued: 'queued',
  running: 'running',
  finished: 'finished',
  failed: 'failed',
  cancelled: 'cancelled',
  interrupted: 'interrupted',
};

/** Mode and compression in one cell: "AN α 4", "DAN search 1/2/4", "Standard". */
export function modeAndAlpha(run: Pick<RunRecord, 'kind' | 'config' | 'search'>): string {
  const alpha = alphaLabel(run);
  if (alpha === '—') return modeLabel(run);
  return run.kind === 'search' && run.search?.result === null ? `DAN ${alpha}` : `${modeLabel(run)} α ${alpha}`;
}

/** Runs that can continue from a checkpoint (runs:resume). */
export function canResume(run: Pick<RunRecord, 'status' | 'checkpointPath'>): boolean {
  return run.status === 'interrupted' || ((run.status === 'cancelled' || run.status === 'failed') && run.checkpointPath !== null);
}

/**
 * The badge of a backend stored as its kind only (runs recorded before the
 * whole report was kept). A WebGPU run says GPU only if its device does not
 * call itself a software adapter.
 */
export function backendFromKind(kind: string | null, device: string | null): BackendInfo | null {
  switch (kind) {
    case 'gpu':
      return { kind, name: 'tensorflow', label: 'GPU', device: device ?? 'CUDA', skipped: [] };
    case 'webgpu':
      return { kind, name: 'webgpu', label: device === null || /software/.test(device) ? 'CPU' : 'GPU', device: device ?? 'WebGPU', skipped: [] };
    case 'node':
      return { kind, name: 'tensorflow', label: 'CPU', device: device ?? 'native CPU', skipped: [] };
    case 'cpu':
      return { kind, name: 'cpu', label: 'CPU', device: device ?? 'JavaScript CPU', skipped: [] };
    case 'wasm':
      return { kind, name: 'wasm', label: 'WASM', device: device ?? 'WebAssembly', skipped: [] };
    default:
      return null;
  }
}
