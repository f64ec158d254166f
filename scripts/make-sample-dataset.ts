/**
 * Builds the sample dataset in samples/fashion-mnist: the first N test images
 * of each Fashion-MNIST class as 28×28 gray PNGs, one folder per class — a
 * dataset in the layout users drop, for first runs and demos.
 *
 *   npm run sample-data [-- --source DIR --out DIR --per-class N]
 *
 * Reads the IDX files of Debian's `dataset-fashion-mnist` package. The output
 * depends only on the input files: same files, same PNGs.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';

const DEFAULT_SOURCE = '/usr/share/datasets/fashion-mnist';
const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const DEFAULT_OUT = join(REPO, 'samples', 'fashion-mnist');

/** Class names from the Fashion-MNIST README, as folder names ("T-shirt/top" cannot contain a slash). */
const CLASSES = ['T-shirt-top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

const LICENSE = `Fashion-MNIST sample
====================

These images are the first 100 test images of each class of Fashion-MNIST
(t10k-images-idx3-ubyte), converted to 28×28 gray PNG files, one folder per
class, by scripts/make-sample-dataset.ts. File names are the images' indices
in the test set.

Fashion-MNIST: Han Xiao, Kashif Rasul, Roland Vollgraf. "Fashion-MNIST: a
Novel Image Dataset for Benchmarking Machine Learning Algorithms".
arXiv:1708.07747, 2017. https://github.com/zalandoresearch/fashion-mnist

The MIT License (MIT)

Copyright © 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;

function readIdx(path: string, magic: number): { data: Buffer; dims: number[] } {
  let b = readFileSync(path);
  if (b[0] === 0x1f && b[1] === 0x8b) b = gunzipSync(b);
  if (b.readUInt32BE(0) !== magic) throw new Error(`${path} is not an IDX file with magic ${magic.toString(16)}`);
  const rank = magic & 0xff;
  const dims = Array.from({ length: rank }, (_, i) => b.readUInt32BE(4 + 4 * i));
  const data = b.subarray(4 + 4 * rank);
  if (data.length !== dims.reduce((a, d) => a * d, 1)) throw new Error(`${path} is truncated`);
  return { data, dims };
}

function findFile(dir: string, stem: string): string {
  for (const name of [`${stem}.gz`, stem]) if (existsSync(join(dir, name))) return join(dir, name);
  throw new Error(`${dir} has no ${stem}[.gz] (on Debian: apt-get install dataset-fashion-mnist)`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { source: { type: 'string' }, out: { type: 'string' }, 'per-class': { type: 'string' } } });
  const source = values.source ?? DEFAULT_SOURCE;
  const out = resolve(values.out ?? DEFAULT_OUT);
  const perClass = Number(values['per-class'] ?? 100);
  if (!Number.isInteger(perClass) || perClass < 1) throw new Error(`--per-class must be a positive integer, got ${values['per-class']}`);

  const images = readIdx(findFile(source, 't10k-images-idx3-ubyte'), 0x803);
  const labels = readIdx(findFile(source, 't10k-labels-idx1-ubyte'), 0x801);
  const [count, rows, cols] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) throw new Error(`${count} images but ${labels.dims[0]} labels`);

  // Refuse to delete a folder this script did not make.
  if (existsSync(out)) {
    const license = join(out, 'LICENSE');
    if (!existsSync(license) || !readFileSync(license, 'utf8').includes('Fashion-MNIST sample')) {
      throw new Error(`${out} exists and is not a sample made by this script; not overwriting it`);
    }
    rmSync(out, { recursive: true });
  }
  const taken = new Array<number>(CLASSES.length).fill(0);
  for (let i = 0; i < count && taken.some((n) => n < perClass); i++) {
    const label = labels.data[i]!;
    if (taken[label]! >= perClass) continue;
    taken[label]!++;
    const dir = join(out, CLASSES[label]!);
    mkdirSync(dir, { recursive: true });
    const pixels = images.data.subarray(i * rows * cols, (i + 1) * rows * cols);
    // No metadata, fixed settings: the bytes depend on the pixels only.
    await sharp(pixels, { raw: { width: cols, height: rows, channels: 1 } })
      .toColourspace('b-w')
      .png({ compressionLevel: 9, adaptiveFiltering: false })
      .toFile(join(dir, `${String(i).padStart(4, '0')}.png`));
  }
  writeFileSync(join(out, 'LICENSE'), LICENSE);
  process.stdout.write(`wrote ${taken.reduce((a, b) => a + b, 0)} images of ${CLASSES.length} classes to ${out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`make-sample-dataset: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
