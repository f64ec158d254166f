/**
 * `npm start` runs the desktop app on Electron, whose V8 differs from Node's:
 * a native addon built against the V8 API (better-sqlite3; the others use
 * the ABI-stable Node-API) loads only under the runtime it was compiled for.
 * This decides, from facts gathered by bin/start.js, which shell to start and
 * whether better-sqlite3 must be rebuilt first — for Electron before the
 * app, back for Node before the browser shell (and the CLI and the tests).
 */

/** The addon compiled against the V8 API, so tied to one runtime's ABI. */
export const V8_ADDONS = ['better-sqlite3'] as const;

export interface NativeFacts {
  /** Electron's binary, if its download happened at install. */
  electronBinary: string | null;
  /** That Electron's NODE_MODULE_VERSION, null if it could not be asked. */
  electronAbi: string | null;
  /** This Node's NODE_MODULE_VERSION (process.versions.modules). */
  nodeAbi: string;
  /** The NODE_MODULE_VERSION better-sqlite3 was compiled for: nodeAbi if it loads here, else what its load error names; null if unknown. */
  builtAbi: string | null;
}

export interface Rebuild {
  /** Run from the package root (an npm script's own `.bin` on PATH is not assumed). */
  command: string;
  args: string[];
  why: string;
}

export type StartPlan = { shell: 'electron'; rebuild: Rebuild | null } | { shell: 'browser'; rebuild: Rebuild | null; why: string };

const forElectron = (abi: string | null, built: string | null): Rebuild => ({
  command: 'node_modules/.bin/electron-rebuild',
  args: ['--force', '--only', V8_ADDONS.join(',')],
  why: `better-sqlite3 is built for NODE_MODULE_VERSION ${built ?? 'unknown'} (Node); Electron needs ${abi ?? 'its own'}`,
});

const forNode = (nodeAbi: string, built: string | null): Rebuild => ({
  command: 'npm',
  args: ['rebuild', ...V8_ADDONS],
  why: `better-sqlite3 is built for NODE_MODULE_VERSION ${built ?? 'unknown'} (Electron); Node needs ${nodeAbi}`,
});

export function startPlan(f: NativeFacts): StartPlan {
  if (f.electronBinary === null) {
    const why = 'Electron is not installed here (its binary is downloaded at install time where the network allows)';
    return { shell: 'browser', why, rebuild: f.builtAbi !== null && f.builtAbi !== f.nodeAbi ? forNode(f.nodeAbi, f.builtAbi) : null };
  }
  if (f.electronAbi === null) {
    const why = `Electron at ${f.electronBinary} did not say which native-module ABI it needs`;
    return { shell: 'browser', why, rebuild: f.builtAbi !== null && f.builtAbi !== f.nodeAbi ? forNode(f.nodeAbi, f.builtAbi) : null };
  }
  return { shell: 'electron', rebuild: f.builtAbi === f.electronAbi ? null : forElectron(f.electronAbi, f.builtAbi) };
}

/** The ABI a failed load of a native addon says it was compiled for ("compiled against … NODE_MODULE_VERSION 123"), or null. */
export function abiOfLoadError(message: string): string | null {
  const m = /compiled against a different Node\.js version using\s+NODE_MODULE_VERSION (\d+)/.exec(message);
  return m === null ? null : m[1]!;
}
