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

/** The function being assembled, its argument indices and its locals. */
interface Conv2DLocals {
  f: FunctionBuilder;
  a: (name: Arg) => number;
  v: Record<'b' | 'i' | 'ob' | 'j' | 'p' | 'q' | 'yy' | 'col' | 'c' | 'c4' | 'o4' | 'yRow' | 'xRowP' | 'xp0' | 'xp1' | 'wp' | 'xNext', number>;
  acc: number[];
  wv: number[];
  s: number[];
}

/** Output pixels j (and j + 1), `lanes` vectors of output channels from ob: accumulate every valid tap, then store. */
function pixels(l: Conv2DLocals, pair: boolean, lanes: number): void {
  const { f, a, v } = l;
  const used = l.acc.slice(0, pair ? 2 * lanes : lanes);
  const filters = l.wv.slice(0, lanes);
  for (const r of used) f.zero().set(r);
  f.forRange(
    v.p,
    () => f.const(0),
    () => f.get(a('kh')),
    1,
    () => {
      f.get(v.i).get(a('sh')).mul().get(v.p).add().get(a('top')).sub().set(v.yy);
      f.get(v.yy).get(a('height')).ltU().if();
      f.get(a('x')).get(v.b).get(a('height')).mul().get(v.yy).add().get(a('width')).mul().get(v.c4).mul().add().set(v.xRowP);
      f.forRange(
        v.q,
        () => f.const(0),
        () => f.get(a('kw')),
        1,
        () => tap(l, pair, lanes, used, filters),
      );
      f.end();
    },
  );
  // y[b, i, j, ob…]
  used.forEach((r, m) => {
    f.get(v.yRow).get(v.j).get(v.o4).mul().add().get(v.ob).add();
    if (m >= lanes) f.get(v.o4).add();
    f.get(r).store(16 * (m % lanes));
  });
}

/** One filter tap (p, q) for the pixel or pair: every input channel times `lanes` vectors of filters. */
function tap(l: Conv2DLocals, pair: boolean, lanes: number, used: readonly number[], filters: readonly number[]): void {
  const { f, a, v, s } = l;
  f.get(v.j).get(a('sw')).mul().get(v.q).add().get(a('left')).sub().set(v.col);
  // Interior pairs need no check; a single pixel's tap may fall outside.
  if (!pair) f.get(v.col).get(a('width')).ltU().if();
  f.get(v.xRowP).get(v.col).get(v.c4).mul().add().set(v.xp0);
  if (pair) f.get(v.xp0).get(v.xNext).add().set(v.xp1);
  f.get(a('w')).get(v.p).get(a('kw')).mul().get(v.q).add().get(a('channels')).mul().get(v.o4).mul().add().get(v.ob).add().set(v.wp);
  f.forRange(
    v.c,
    () => f.const(0),
    () => f.get(a('channels')),
    1,
    () => {
      filters.forEach((r, m) =>
        f
          .get(v.wp)
          .load(16 * m)
          .set(r),
      );
      f.get(v.xp0).loadSplat().set(s[0]!);
      if (pair) f.get(v.xp1).loadSplat().set(s[1]!);
      used.forEach((r, m) => {
        f.get(r)
          .get(s[Math.floor(m / lanes)]!)
          .get(filters[m % lanes]!)
          .simd(Simd.f32x4Mul)
          .simd(Simd.f32x4Add)
          .set(r);
      });
      f.get(v.xp0).const(4).add().set(v.xp0);
      if (pair) f.get(v.xp1).const(4).add().set(v.xp1);
      f.get(v.wp).get(v.o4).add().set(v.wp);
    },
  );
  if (!pair) f.end();
}

/** Every output column of row i, for the `lanes` vectors of output channels from ob. */
function columns(l: Conv2DLocals, lanes: number): void {
  const { f, a, v } = l;
  // Left border, one pixel at a time.
  f.forRange(
    v.j,
    () => f.const(0),
    () => f.get(a('jA')),
    1,
    () => pixels(l, false, lanes),
  );
  // Interior, two at a time: while j + 2 ≤ jB.
  f.get(a('jA')).set(v.j);
  f.block().loop();
  f.get(a('jB')).get(v.j).const(2).add().ltS().brIf(1);
  pixels(l, true, lanes);
  f.get(v.j).const(2).add().set(v.j);
  f.br(0).end().end();
  // What is left of the interior, and the right border.
  f.forRange(
    v.j,
    () => f.get(v.j),
    () => f.get(a('outWidth')),
    1,
    () => pixels(l, false, lanes),
  );
}

function build(): FunctionBuilder {
  const f = new FunctionBuilder('conv2d', ARGS.length);
  const a = (name: Arg): number => ARGS.indexOf(name);
  // Loop counters, then byte sizes and addresses.
  const v = {
    ...f.i32s(['b', 'i', 'ob', 'j', 'p', 'q', 'yy', 'col', 'c'] as const),
    ...f.i32s(['c4', 'o4', 'yRow', 'xRowP', 'xp0', 'xp1', 'wp', 'xNext'] as const),
  };
  const l: Conv2DLocals = {
    f,
    a,
    v,
    acc: Array.from({ length: 8 }, () => f.v128()),
    wv: Array.from({ length: 4 }, () => f.v128()),
    s: [f.v128(), f.v128()],
  };

  f.get(a('channels')).const(4).mul().set(v.c4);
  f.get(a('outChannels')).const(4).mul().set(v.o4);
  // Bytes from one output pixel's input to the next's.
  f.get(a('sw')).get(v.c4).mul().set(v.xNext);
  f.forRange(
    v.b,
    () => f.const(0),
    () => f.get(a('batch')),
    1,
    () => {
      f.forRange(
        v.i,
        () => f.const(0),
        () => f.get(a('outHeight')),
        1,
        () => {
          f.get(a('y')).get(v.b).get(a('outHeight')).mul().get(v.i).add().get(a('outWidth')).mul().get(v.o4).mul().add().set(v.yRow);
          outputChannelTiles(f, v.ob, v.o4, (lanes) => columns(l, lanes));
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
