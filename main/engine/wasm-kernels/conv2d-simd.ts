import { assemble, FunctionBuilder, Simd } from './wasm-assembler.js';
import { outputChannelTiles } from './channel-tiles.js';
import { HeapModule, type WasmMemory } from './wasm-runtime.js';

/**
 * A 2-D convolution (NHWC, no dilation) as one WebAssembly SIMD loop nest:
 * y[b,i,j,o] = Σ x[b, i·sh + p − top, j·sw + q − left, c] · W[p,q,c,o].
 * Sixteen output channels (four lane vectors) at a time, then eight and four
 * for the rest (channel counts in fours); inside the row's
 * interior, where every tap lands in the image, two output pixels share
 * each filter load (eight accumulators: two splatted inputs times four
 * filter vectors per input channel); at the borders, one pixel with each
 * tap checked.
 *
 * Arguments (i32; addresses in bytes): x, w, y, batch, height, width,
 * channels, outHeight, outWidth, outChannels (a multiple of 4), kh, kw, sh,
 * sw, top, left, and the interior columns [jA, jB).
 */
export type Conv2DSimd = (...args: number[]) => void;

const ARGS = [
  'x',
  'w',
  'y',
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
  'jA',
  'jB',
] as const;

type Arg = (typeof ARGS)[number];

function build(): FunctionBuilder {
  const f = new FunctionBuilder('conv2d', ARGS.length);
  const a = (name: Arg): number => ARGS.indexOf(name);
  // Loop counters, then byte sizes and addresses.
  const { b, i, ob, j, p, q, yy, col, c } = f.i32s(['b', 'i', 'ob', 'j', 'p', 'q', 'yy', 'col', 'c'] as const);
  const { c4, o4, yRow, xRowP, xp0, xp1, wp, xNext } = f.i32s(['c4', 'o4', 'yRow', 'xRowP', 'xp0', 'xp1', 'wp', 'xNext'] as const);
  const acc = Array.from({ length: 8 }, () => f.v128());
  const wv = Array.from({ length: 4 }, () => f.v128());
  const s = [f.v128(), f.v128()];

  f.get(a('channels')).const(4).mul().set(c4);
  f.get(a('outChannels')).const(4).mul().set(o4);
  // Bytes from one output pixel's input to the next's.
  f.get(a('sw')).get(c4).mul().set(xNext);

  /** Output pixels j (and j + 1), `lanes` vectors of output channels from ob: accumulate every valid tap, then store. */
  const pixels = (pair: boolean, lanes: number): void => {
    const used = acc.slice(0, pair ? 2 * lanes : lanes);
    const filters = wv.slice(0, lanes);
    for (const r of used) f.zero().set(r);
    f.forRange(
      p,
      () => f.const(0),
      () => f.get(a('kh')),
      1,
      () => {
        f.get(i).get(a('sh')).mul().get(p).add().get(a('top')).sub().set(yy);
        f.get(yy).get(a('height')).ltU().if();
        f.get(a('x')).get(b).get(a('height')).mul().get(yy).add().get(a('width')).mul().get(c4).mul().add().set(xRowP);
        f.forRange(
          q,
          () => f.const(0),
          () => f.get(a('kw')),
          1,
          () => {
            f.get(j).get(a('sw')).mul().get(q).add().get(a('left')).sub().set(col);
            // Interior pairs need no check; a single pixel's tap may fall outside.
            if (!pair) f.get(col).get(a('width')).ltU().if();
            f.get(xRowP).get(col).get(c4).mul().add().set(xp0);
            if (pair) f.get(xp0).get(xNext).add().set(xp1);
            f.get(a('w')).get(p).get(a('kw')).mul().get(q).add().get(a('channels')).mul().get(o4).mul().add().get(ob).add().set(wp);
            f.forRange(
              c,
              () => f.const(0),
              () => f.get(a('channels')),
              1,
              () => {
                filters.forEach((r, m) =>
                  f
                    .get(wp)
                    .load(16 * m)
                    .set(r),
                );
                f.get(xp0).loadSplat().set(s[0]!);
                if (pair) f.get(xp1).loadSplat().set(s[1]!);
                used.forEach((r, m) => {
                  f.get(r)
                    .get(s[Math.floor(m / lanes)]!)
                    .get(filters[m % lanes]!)
                    .simd(Simd.f32x4Mul)
                    .simd(Simd.f32x4Add)
                    .set(r);
                });
                f.get(xp0).const(4).add().set(xp0);
                if (pair) f.get(xp1).const(4).add().set(xp1);
                f.get(wp).get(o4).add().set(wp);
              },
            );
            if (!pair) f.end();
          },
        );
        f.end();
      },
    );
    // y[b, i, j, ob…]
    used.forEach((r, m) => {
      f.get(yRow).get(j).get(o4).mul().add().get(ob).add();
      if (m >= lanes) f.get(o4).add();
      f.get(r).store(16 * (m % lanes));
    });
  };

  /** Every output column of row i, for the `lanes` vectors of output channels from ob. */
  const columns = (lanes: number): void => {
    // Left border, one pixel at a time.
    f.forRange(
      j,
      () => f.const(0),
      () => f.get(a('jA')),
      1,
      () => pixels(false, lanes),
    );
    // Interior, two at a time: while j + 2 ≤ jB.
    f.get(a('jA')).set(j);
    f.block().loop();
    f.get(a('jB')).get(j).const(2).add().ltS().brIf(1);
    pixels(true, lanes);
    f.get(j).const(2).add().set(j);
    f.br(0).end().end();
    // What is left of the interior, and the right border.
    f.forRange(
      j,
      () => f.get(j),
      () => f.get(a('outWidth')),
      1,
      () => pixels(false, lanes),
    );
  };

  f.forRange(
    b,
    () => f.const(0),
    () => f.get(a('batch')),
    1,
    () => {
      f.forRange(
        i,
        () => f.const(0),
        () => f.get(a('outHeight')),
        1,
        () => {
          f.get(a('y')).get(b).get(a('outHeight')).mul().get(i).add().get(a('outWidth')).mul().get(o4).mul().add().set(yRow);
          outputChannelTiles(f, ob, o4, columns);
        },
      );
    },
  );
  return f;
}

const module = new HeapModule<Conv2DSimd>(
  () => assemble([build()]),
  (exports) => exports['conv2d'] as Conv2DSimd,
);

/** The loop nest bound to `memory` (the wasm backend's heap), or null where this engine has no wasm SIMD. */
export function conv2dSimd(memory: WasmMemory): Conv2DSimd | null {
  return module.on(memory);
}
