import * as tf from '@tensorflow/tfjs';
import { describeCpu, describeWasm } from '../../engine/backend.js';
import { systemLoaders } from '../../engine/backends/system-loaders.js';
import { listAdapters, surveyBackends } from '../../engine/backends/survey.js';
import { releaseBackends } from '../../engine/backends/release.js';
import { checkNativeModules } from './native-modules.js';
import type { ProbeMessage } from '../probe-protocol.js';

/**
 * The probe process of `adjoin doctor` and the System view: started like a
 * job's process (a child of the CLI or the server, a utility process in the
 * desktop app), it loads what a run would load — native modules, the
 * TensorFlow packages, Dawn — and reports each finding as it goes. A
 * library that aborts the process takes the probe down, not the app.
 */
/** Sends a message to the host; resolves once it is handed over. */
type Channel = (m: ProbeMessage) => Promise<void>;

function parentChannel(): Channel {
  const utility = (process as NodeJS.Process & { parentPort?: { postMessage(m: unknown): void } }).parentPort;
  if (utility !== undefined) {
    return async (m) => utility.postMessage(m);
  }
  const ipc = process.send?.bind(process);
  if (ipc === undefined) throw new Error('probe-process must be started with an IPC channel');
  return (m) => new Promise((resolve) => void ipc(m, undefined, undefined, () => resolve()));
}

const send = parentChannel();
await send({ type: 'runtime', node: process.versions.node, electron: process.versions['electron'] ?? null, abi: process.versions.modules });
await send({ type: 'modules', modules: await checkNativeModules() });
tf.enableProdMode();
const { requested, chosen } = await surveyBackends(
  process.env['ADJOIN_BACKEND'],
  systemLoaders,
  { wasm: describeWasm, cpu: describeCpu },
  (status) => void send({ type: 'backend', status }),
  (kind) => void send({ type: 'checking', kind }),
);
await send({ type: 'requested', requested, chosen });
await send({
  type: 'adapters',
  adapters: await listAdapters(systemLoaders),
  vulkanDrivers: systemLoaders.platform === 'linux' ? systemLoaders.vulkanDrivers() : null,
});
releaseBackends();
await send({ type: 'done' });
// The channel would keep the process waiting for the host: leave once the last message is out.
process.exit(0);
