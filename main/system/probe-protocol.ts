import { BACKEND_ORDER } from '../../shared/backend.js';
import { arr, bool, type Decoder, nullable, obj, oneOf, str, tagged } from '../../shared/decode.js';
import type { AdapterReport, BackendStatus, NativeModuleReport, SystemReport } from '../../shared/system.js';

/**
 * What the probe process tells the host, one message per finding, so that a
 * probe that dies (a native library that aborts while loading) still leaves
 * everything found before it, and the host knows what it was checking.
 */
export type ProbeMessage =
  | { type: 'runtime'; node: string; electron: string | null; abi: string }
  | { type: 'modules'; modules: NativeModuleReport[] }
  | { type: 'checking'; kind: BackendStatus['kind'] }
  | { type: 'backend'; status: BackendStatus }
  | { type: 'requested'; requested: SystemReport['requested']; chosen: SystemReport['chosen'] }
  | { type: 'adapters'; adapters: AdapterReport[]; vulkanDrivers: string[] | null }
  | { type: 'done' };

const kind = oneOf(BACKEND_ORDER);

/** Checks a message from the probe process where it enters the host. */
export const probeMessage: Decoder<ProbeMessage> = tagged('type', {
  runtime: obj({ type: oneOf(['runtime'] as const), node: str, electron: nullable(str), abi: str }),
  modules: obj({
    type: oneOf(['modules'] as const),
    modules: arr(obj({ name: str, status: oneOf(['ok', 'mismatch', 'missing', 'error'] as const), detail: str })),
  }),
  checking: obj({ type: oneOf(['checking'] as const), kind }),
  backend: obj({ type: oneOf(['backend'] as const), status: obj({ kind, available: bool, detail: str }) }),
  requested: obj({
    type: oneOf(['requested'] as const),
    requested: obj({ value: nullable(str), kind: nullable(kind), problem: nullable(str) }),
    chosen: nullable(kind),
  }),
  adapters: obj({
    type: oneOf(['adapters'] as const),
    adapters: arr(
      obj({
        name: str,
        vendor: str,
        architecture: str,
        software: bool,
        requestedAs: arr(oneOf(['high-performance', 'low-power', 'fallback'] as const)),
      }),
    ),
    vulkanDrivers: nullable(arr(str)),
  }),
  done: obj({ type: oneOf(['done'] as const) }),
});
