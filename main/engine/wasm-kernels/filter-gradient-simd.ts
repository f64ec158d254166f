import { assemble, FunctionBuilder, Simd } from './wasm-assembler.js';
import { outputChannelTiles } from './channel-tiles.js';
import { HeapModule, type WasmMemory } from './wasm-runtime.js';

/**
 * The filter gradient of a convolution as one WebAssembly SIMD loop nest
 * reading the NHWC input and output gradient where they lie:
 * dW[p,q,c,o] += Σ x[b, i·sh + p − top, j·sw + q − left, c] · dy[b,i,j,o].
 * For every output row and tap, the valid columns j form one run; along it
 * two input channels (splatted) multiply 16 output channels (four lane
 * vectors; then eight and four for the rest) into eight accumulators, and
 * the accumulators go back to dW once per run. No patch matrix and no repacking of dy, which is what the
 * patch-matrix product spends most of its time on at large images; short
 * runs (small images) pay the per-run cost instead, so the caller picks.
 *
 * Arguments (i32; addresses in bytes): x, dy, dw (zeroed by the caller),
 * batch, height, width, channels, outHeight, outWidth, outChannels (a
 * multiple of 4), kh, kw, sh, sw, top, left, and `columns`: per filter
 * column q, the first and past-the-last valid output column (i32 pairs).
 */
export type FilterGradientSimd = (...args: number[]) => void;

const ARGS = [
  'x',
  'dy',
  'dw',
  'batch',
  'height',
  'width',
  'channels',
  'outHeight',
  'outWidth',
  'outChannels',
  'kh',
  'kw',
  'sh',
  'sw',
  'top',
  'left',
  'columns',
] as const;

type Arg = (typeof ARGS)[number];

function build(): FunctionBuilder {
  const f = new FunctionBuilder('filterGradient', ARGS.length);
  const a = (name: Arg): number => ARGS.indexOf(name);
  // Loop counters, then byte sizes and addresses.
  const { b, i, p, q, y, j0, n, c, ob, k } = f.i32s(['b', 'i', 'p', 'q', 'y', 'j0', 'n', 'c', 'ob', 'k'] as const);
  const { c4, o4, xStep, dyRow, xRow, xStart, dStart, wTap, wp, xp, dp } = f.i32s([
    'c4',
    'o4',
    'xStep',
    'dyRow',
    'xRow',
    'xStart',
    'dStart',
    'wTap',
    'wp',
    'xp',
    'dp',
  ] as const);
  const acc = Array.from({ length: 8 }, () => f.v128());
  const d = Array.from({ length: 4 }, () => f.v128());
  const s = [f.v128(), f.v128()];

  f.get(a('channels')).const(4).mul().set(c4);
  f.get(a('outChannels')).const(4).mul().set(o4);
  f.get(a('sw')).get(c4).mul().set(xStep);

  const loop = (v: number, limit: () => void, step: number, body: () => void): void => {
    f.forRange(v, () => f.const(0), limit, step, body);
  };

  /** One run of `n` columns for `tile` input channels from c and `lanes` vectors of output channels from ob. */
  const run = (tile: 1 | 2, lanes: number): void => {
    const used = acc.slice(0, tile * lanes);
    const grads = d.slice(0, lanes);
    f.get(wTap).get(c).get(o4).mul().add().get(ob).add().set(wp);
    used.forEach((r, m) => {
      f.get(wp);
      if (m >= lanes) f.get(o4).add();
      f.load(16 * (m % lanes)).set(r);
    });
    f.get(xStart).get(c).const(4).mul().add().set(xp);
    f.get(dStart).get(ob).add().set(dp);
    f.get(n).set(k);
    f.loop();
    grads.forEach((r, m) =>
      f
        .get(dp)
        .load(16 * m)
        .set(r),
    );
    for (let t = 0; t < tile; t++)
      f.get(xp)
        .loadSplat(4 * t)
        .set(s[t]!);
    used.forEach((r, m) => {
      f.get(r)
        .get(s[Math.floor(m / lanes)]!)
        .get(grads[m % lanes]!)
        .simd(Simd.f32x4Mul)
        .simd(Simd.f32x4Add)
        .set(r);
    });
    f.get(xp).get(xStep).add().set(xp);
    f.get(dp).get(o4).add().set(dp);
    f.get(k).const(1).sub().tee(k).brIf(0);
    f.end();
    used.forEach((r, m) => {
      f.get(wp);
      if (m >= lanes) f.get(o4).add();
      f.get(r).store(16 * (m % lanes));
    });
  };

  loop(
    b,
    () => f.get(a('batch')),
    1,
    () => {
      loop(
        i,
        () => f.get(a('outHeight')),
        1,
        () => {
          // dy[b, i, 0, 0]
          f.get(a('dy')).get(b).get(a('outHeight')).mul().get(i).add().get(a('outWidth')).mul().get(o4).mul().add().set(dyRow);
          loop(
            p,
            () => f.get(a('kh')),
            1,
            () => {
              f.get(i).get(a('sh')).mul().get(p).add().get(a('top')).sub().set(y);
              // 0 ≤ y < height, as one unsigned comparison.
              f.get(y).get(a('height')).ltU().if();
              f.get(a('x')).get(b).get(a('height')).mul().get(y).add().get(a('width')).mul().get(c4).mul().add().set(xRow);
              loop(
                q,
                () => f.get(a('kw')),
                1,
                () => {
                  f.get(a('columns')).get(q).const(8).mul().add().loadI32(0).set(j0);
                  f.get(a('columns')).get(q).const(8).mul().add().loadI32(4).get(j0).sub().set(n);
                  f.const(0).get(n).ltS().if();
                  // x[b, y, j0·sw + q − left, 0], dy[b, i, j0, 0], dW[p, q, 0, 0]
                  f.get(xRow).get(j0).get(a('sw')).mul().get(q).add().get(a('left')).sub().get(c4).mul().add().set(xStart);
                  f.get(dyRow).get(j0).get(o4).mul().add().set(dStart);
                  f.get(a('dw')).get(p).get(a('kw')).mul().get(q).add().get(a('channels')).mul().get(o4).mul().add().set(wTap);
                  f.const(0).set(c);
                  f.block().loop();
                  // c + 2 > channels: leave the pair loop.
                  f.get(a('channels')).get(c).const(2).add().ltU().brIf(1);
                  outputChannelTiles(f, ob, o4, (lanes) => run(2, lanes));
                  f.get(c).const(2).add().set(c);
                  f.br(0).end().end();
                  // An odd channel left over.
                  f.get(c).get(a('channels')).ltU().if();
                  outputChannelTiles(f, ob, o4, (lanes) => run(1, lanes));
                  f.end();
                  f.end();
                },
              );
              f.end();
            },
          );
        },
      );
    },
  );
  return f;
}

const module = new HeapModule<FilterGradientSimd>(
  () => assemble([build()]),
  (exports) => exports['filterGradient'] as FilterGradientSimd,
);

/** The loop nest bound to `memory` (the wasm backend's heap), or null where this engine has no wasm SIMD. */
export function filterGradientSimd(memory: WasmMemory): FilterGradientSimd | null {
  return module.on(memory);
}
