import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | null = null;

/** The folder of Adjoin's package.json, from sources (tests) or from build/ and inside the packaged app. */
export function packageRoot(): string {
  if (cached !== null) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'adjoin') {
      cached = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the adjoin package folder');
    dir = parent;
  }
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The bundled Fashion-MNIST sample (10 classes × 100 PNGs). In the packaged
 * app it is unpacked beside the archive (app.asar.unpacked): the image
 * decoder reads files natively and cannot look inside an asar archive.
 */
export function sampleDatasetPath(root: string = packageRoot()): string {
  const base = root.endsWith('app.asar') ? `${root}.unpacked` : root;
  return join(base, 'samples', 'fashion-mnist');
}

/** The built renderer (vite build). */
export function rendererDir(): string {
  return join(packageRoot(), 'renderer', 'dist');
}
