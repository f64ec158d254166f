import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { abiOfLoadError, startPlan } from '../../../main/app/native-modules.js';

const NODE = '115';
const ELECTRON = '143';

describe('npm start: which shell, and whether better-sqlite3 is rebuilt first', () => {
  it('Electron installed, the addon built for Node: rebuild it for Electron, then start the desktop app', () => {
    expect(startPlan({ electronBinary: '/e/electron', electronAbi: ELECTRON, nodeAbi: NODE, builtAbi: NODE })).toEqual({
      shell: 'electron',
      rebuild: {
        command: 'node_modules/.bin/electron-rebuild',
        args: ['--force', '--only', 'better-sqlite3'],
        why: `better-sqlite3 is built for NODE_MODULE_VERSION ${NODE} (Node); Electron needs ${ELECTRON}`,
      },
    });
  });

  it('Electron installed, the addon already built for it: start at once', () => {
    expect(startPlan({ electronBinary: '/e/electron', electronAbi: ELECTRON, nodeAbi: NODE, builtAbi: ELECTRON })).toEqual({
      shell: 'electron',
      rebuild: null,
    });
  });

  it('Electron installed, the addon of unknown build (missing or unreadable): rebuild for Electron', () => {
    expect(startPlan({ electronBinary: '/e/electron', electronAbi: ELECTRON, nodeAbi: NODE, builtAbi: null }).rebuild).toMatchObject({
      command: 'node_modules/.bin/electron-rebuild',
    });
  });

  it('no Electron: the browser shell, rebuilding the addon back for Node if an earlier start built it for Electron', () => {
    expect(startPlan({ electronBinary: null, electronAbi: null, nodeAbi: NODE, builtAbi: NODE })).toMatchObject({ shell: 'browser', rebuild: null });
    expect(startPlan({ electronBinary: null, electronAbi: null, nodeAbi: NODE, builtAbi: ELECTRON })).toMatchObject({
      shell: 'browser',
      rebuild: { command: 'npm', args: ['rebuild', 'better-sqlite3'] },
    });
  });

  it('an Electron that cannot say its ABI is not started on a guess', () => {
    expect(startPlan({ electronBinary: '/e/electron', electronAbi: null, nodeAbi: NODE, builtAbi: NODE })).toMatchObject({
      shell: 'browser',
      rebuild: null,
      why: expect.stringMatching(/did not say which native-module ABI/),
    });
  });

  it('reads the ABI an addon was built for from its load error', () => {
    const message =
      "The module '/x/better_sqlite3.node'\nwas compiled against a different Node.js version using\nNODE_MODULE_VERSION 143. This version of Node.js requires\nNODE_MODULE_VERSION 115.";
    expect(abiOfLoadError(message)).toBe('143');
    expect(abiOfLoadError('Cannot find module better-sqlite3')).toBeNull();
  });

  it('bin/start.js follows the plan (its facts from Electron itself and from loading the addon)', () => {
    const start = readFileSync(new URL('../../../bin/start.js', import.meta.url), 'utf8');
    expect(start).toMatch(/startPlan\(/);
    expect(start).toMatch(/ELECTRON_RUN_AS_NODE: '1'/);
  });
});
