import { BACKEND_ORDER, type BackendInfo, type BackendKind, type BackendSkip } from '../../../shared/backend.js';
import type { Detection, Detectors } from './detect.js';

const ALIASES: Readonly<Record<string, BackendKind>> = {
  gpu: 'gpu',
  cuda: 'gpu',
  'tfjs-node-gpu': 'gpu',
  webgpu: 'webgpu',
  dawn: 'webgpu',
  node: 'node',
  tensorflow: 'node',
  'tfjs-node': 'node',
  wasm: 'wasm',
  cpu: 'cpu',
};

/** The backend ADJOIN_BACKEND (or a caller) asks for, or null to choose; a value that is no backend is refused with the list. */
export function parseForced(value: string | undefined): BackendKind | null {
  if (value === undefined || value === '') return null;
  const kind = ALIASES[value.toLowerCase()];
  if (kind === undefined) throw new Error(`ADJOIN_BACKEND='${value}' is not a backend (use ${BACKEND_ORDER.join(', ')})`);
  return kind;
}

/**
 * Picks the first usable backend in preference order (or the forced one
 * alone) and activates it. Every backend ahead of the one used is recorded
 * with its reason: not usable here, failed to start, or not tried because
 * another was forced. Throws, with every reason, when none can run.
 */
export async function selectBackend(
  forced: BackendKind | null,
  detectors: Detectors,
  activate: (kind: BackendKind, detection: Detection & { usable: true }) => Promise<string | null>,
): Promise<BackendInfo> {
  const skipped: BackendSkip[] = [];
  const tried: BackendSkip[] = [];
  if (forced !== null) {
    for (const kind of BACKEND_ORDER) {
      if (kind === forced) break;
      skipped.push({ kind, reason: `not tried: ADJOIN_BACKEND=${forced} forces ${forced}` });
    }
  }
  for (const kind of forced === null ? BACKEND_ORDER : [forced]) {
    const detection = await detectors[kind]();
    const failure = detection.usable ? await activate(kind, detection) : null;
    if (detection.usable && failure === null) return { ...detection.info, skipped };
    const skip = { kind, reason: detection.usable ? `did not start: ${failure}` : detection.reason };
    skipped.push(skip);
    tried.push(skip);
  }
  const what = forced === null ? 'no TensorFlow.js backend could be loaded' : `the ${forced} backend asked for by ADJOIN_BACKEND cannot run here`;
  throw new Error(`${what} (${tried.map((s) => `${s.kind}: ${s.reason}`).join('; ')})`);
}
