import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

/**
 * The Vulkan driver (ICD) manifests the Vulkan loader would read on Linux:
 * the files named by VK_DRIVER_FILES / VK_ICD_FILENAMES when set (they
 * replace the search), else every `*.json` in the loader's search path, plus
 * VK_ADD_DRIVER_FILES. Dawn runs WebGPU on Vulkan there, so none means no WebGPU.
 */
export function vulkanDriverManifests(env: NodeJS.ProcessEnv = process.env): string[] {
  const listed = (name: string): string[] => (env[name] ?? '').split(delimiter).filter((f) => f !== '' && isFile(f));
  const added = listed('VK_ADD_DRIVER_FILES');
  const explicit = env['VK_DRIVER_FILES'] ?? env['VK_ICD_FILENAMES'];
  if (explicit !== undefined && explicit !== '') return [...listed(env['VK_DRIVER_FILES'] !== undefined ? 'VK_DRIVER_FILES' : 'VK_ICD_FILENAMES'), ...added];
  const home = env['HOME'] ?? homedir();
  const configHome = env['XDG_CONFIG_HOME'] || join(home, '.config');
  const dataHome = env['XDG_DATA_HOME'] || join(home, '.local', 'share');
  const configDirs = (env['XDG_CONFIG_DIRS'] || '/etc/xdg').split(':');
  const dataDirs = (env['XDG_DATA_DIRS'] || '/usr/local/share:/usr/share').split(':');
  const roots = [configHome, ...configDirs, '/etc', dataHome, ...dataDirs];
  const found = roots.flatMap((root) => jsonFiles(join(root, 'vulkan', 'icd.d')));
  return [...new Set([...found, ...added])];
}

/** The manifest file of Chromium's SwiftShader, a Vulkan driver that runs on the CPU. */
export const SWIFTSHADER_MANIFEST = 'vk_swiftshader_icd.json';

/**
 * The SwiftShader Vulkan driver a Chromium or Chrome install ships (Debian's
 * `chromium` package has one), if there is one: WebGPU then runs on the CPU,
 * which is how tests and CI check the webgpu backend without a GPU. Looks
 * next to every chromium/chrome on PATH and one folder deep in the usual
 * install roots, rather than at one distribution's path.
 */
/** Where browsers are installed, besides next to the ones on PATH. */
const INSTALL_ROOTS = ['/usr/lib', '/usr/lib64', '/usr/local/lib', '/opt', '/opt/google', '/snap/chromium/current/usr/lib'];

export function findSwiftShaderManifest(env: NodeJS.ProcessEnv = process.env, installRoots: readonly string[] = INSTALL_ROOTS): string | null {
  const roots = new Set<string>();
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome']) {
      const binary = join(dir, name);
      if (!isFile(binary)) continue;
      roots.add(dirname(realpathSync(binary)));
      // Launcher scripts (Debian's /usr/bin/chromium) start a browser installed under lib/<name>.
      roots.add(join(dirname(dir), 'lib', name));
    }
  }
  const home = env['HOME'] ?? homedir();
  const playwright = env['PLAYWRIGHT_BROWSERS_PATH'] || join(home, '.cache', 'ms-playwright');
  for (const root of [...installRoots, playwright]) {
    roots.add(root);
    for (const sub of subdirectories(root)) {
      roots.add(sub);
      // Playwright keeps a browser one level further down (chromium-NNNN/chrome-linux).
      if (root === playwright) for (const inner of subdirectories(sub)) roots.add(inner);
    }
  }
  for (const root of roots) {
    const candidate = join(root, SWIFTSHADER_MANIFEST);
    if (isFile(candidate)) return candidate;
  }
  return null;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function jsonFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => join(dir, f))
      .filter(isFile)
      .sort();
  } catch {
    return [];
  }
}

function subdirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => join(dir, d.name));
  } catch {
    return [];
  }
}
