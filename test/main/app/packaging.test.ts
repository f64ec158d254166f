import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { sampleDatasetPath } from '../../../main/package-root.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const config = load(readFileSync(`${REPO}/electron-builder.yml`, 'utf8')) as {
  electronVersion: string;
  files: string[];
  asarUnpack: string[];
  electronFuses: Record<string, boolean>;
};
const pkg = JSON.parse(readFileSync(`${REPO}/package.json`, 'utf8')) as {
  main: string;
  optionalDependencies: Record<string, string>;
  scripts: Record<string, string>;
};

describe('the desktop package', () => {
  it('flips the fuses that let a packaged app be run as Node, inspected or loaded from outside its archive (docs/RELIABILITY.md row 8)', () => {
    expect(config.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
      enableEmbeddedAsarIntegrityValidation: true,
      grantFileProtocolExtraPrivileges: false,
    });
    // With runAsNode off, child_process.fork of the Electron binary would break: the app's jobs use utilityProcess.
    expect(readFileSync(`${REPO}/main/app/main.ts`, 'utf8')).toMatch(/utility-launcher/);
  });

  it('ships the built app and no sources or tests, and builds against the Electron it installs', () => {
    expect(config.electronVersion).toBe(pkg.optionalDependencies['electron']);
    expect(config.files).toEqual(expect.arrayContaining(['build/main/**', 'build/shared/**', 'renderer/dist/**']));
    expect(config.files.some((f) => /^(test|main|renderer\/src)\b/.test(f))).toBe(false);
    expect(pkg.main.startsWith('build/main/')).toBe(true);
    // Native modules cannot load from inside the archive.
    for (const m of ['better-sqlite3', 'sharp', 'onnxruntime-node', 'webgpu', '@litertjs/core/wasm'])
      expect(config.asarUnpack.some((p) => p.includes(m))).toBe(true);
    expect(existsSync(`${REPO}/${pkg.main.replace(/^build\//, '').replace(/\.js$/, '.ts')}`)).toBe(true);
  });

  it('ships the sample dataset the wizard offers, unpacked where the image decoder can read it', () => {
    expect(config.files).toContain('samples/**');
    expect(config.asarUnpack).toContain('samples/**');
    expect(existsSync(`${REPO}/samples/fashion-mnist/LICENSE`)).toBe(true);
    expect(sampleDatasetPath('/opt/Adjoin/resources/app.asar')).toBe('/opt/Adjoin/resources/app.asar.unpacked/samples/fashion-mnist');
    expect(sampleDatasetPath(REPO.replace(/\/$/, ''))).toBe(`${REPO}samples/fashion-mnist`);
  });

  it('has the audit:electron script the Electron security gate’s header names', () => {
    const header = readFileSync(`${REPO}/scripts/electron-audit.ts`, 'utf8');
    expect(header).toMatch(/npm run audit:electron/);
    expect(pkg.scripts['audit:electron']).toMatch(/node build\/scripts\/electron-audit\.js/);
  });
});
