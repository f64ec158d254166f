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

type Names =
  'b' | 'i' | 'p' | 'q' | 'y' | 'j0' | 'n' | 'c' | 'ob' | 'k' | 'c4' | 'o4' | 'xStep' | 'dyRow' | 'xRow' | 'xStart' | 'dStart' | 'wTap' | 'wp' | 'xp' | 'dp';

/** The function being assembled, its argument indices and its locals. */
interface FilterGradientLocals {
  f: FunctionBuilder;
  a: (name: Arg) => number;
  v: Record<Names, number>;
  acc: number[];
  d: number[];
  s: number[];
}

/** One run of `n` columns for `tile` input channels from c and `lanes` vectors of output channels from ob. */
function run(l: FilterGradientLocals, tile: 1 | 2, lanes: number): void {
  const { f, v, s } = l;
  const used = l.acc.slice(0, tile * lanes);
  const grads = l.d.slice(0, lanes);
  f.get(v.wTap).get(v.c).get(v.o4).mul().add().get(v.ob).add().set(v.wp);
  used.forEach((r, m) => {
    f.get(v.wp);
    if (m >= lanes) f.get(v.o4).add();
    f.load(16 * (m % lanes)).set(r);
  });
  f.get(v.xStart).get(v.c).const(4).mul().add().set(v.xp);
  f.get(v.dStart).get(v.ob).add().set(v.dp);
  f.get(v.n).set(v.k);
  f.loop();
  grads.forEach((r, m) =>
    f
      .get(v.dp)
      .load(16 * m)
      .set(r),
  );
  for (let t = 0; t < tile; t++)
    f.get(v.xp)
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
  f.get(v.xp).get(v.xStep).add().set(v.xp);
  f.get(v.dp).get(v.o4).add().set(v.dp);
  f.get(v.k).const(1).sub().tee(v.k).brIf(0);
  f.end();
  used.forEach((r, m) => {
    f.get(v.wp);
    if (m >= lanes) f.get(v.o4).add();
    f.get(r).store(16 * (m % lanes));
  });
}

/** Filter tap (p, q) of output row i: the columns it covers, input channels in pairs, then an odd one. */
function tap(l: FilterGradientLocals): void {
  const { f, a, v } = l;
  f.get(a('columns')).get(v.q).const(8).mul().add().loadI32(0).set(v.j0);
  f.get(a('columns')).get(v.q).const(8).mul().add().loadI32(4).get(v.j0).sub().set(v.n);
  f.const(0).get(v.n).ltS().if();
  // x[b, y, j0·sw + q − left, 0], dy[b, i, j0, 0], dW[p, q, 0, 0]
  f.get(v.xRow).get(v.j0).get(a('sw')).mul().get(v.q).add().get(a('left')).sub().get(v.c4).mul().add().set(v.xStart);
  f.get(v.dyRow).get(v.j0).get(v.o4).mul().add().set(v.dStart);
  f.get(a('dw')).get(v.p).get(a('kw')).mul().get(v.q).add().get(a('channels')).mul().get(v.o4).mul().add().set(v.wTap);
  f.const(0).set(v.c);
  f.block().loop();
  // c + 2 > channels: leave the pair loop.
  f.get(a('channels')).get(v.c).const(2).add().ltU().brIf(1);
  outputChannelTiles(f, v.ob, v.o4, (lanes) => run(l, 2, lanes));
  f.get(v.c).const(2).add().set(v.c);
  f.br(0).end().end();
  // An odd channel left over.
  f.get(v.c).get(a('channels')).ltU().if();
  outputChannelTiles(f, v.ob, v.o4, (lanes) => run(l, 1, lanes));
  f.end();
  f.end();
}

function build(): FunctionBuilder {
  const f = new FunctionBuilder('filterGradient', ARGS.length);
  const a = (name: Arg): number => ARGS.indexOf(name);
  // Loop counters, then byte sizes and addresses.
  const v = {
    ...f.i32s(['b', 'i', 'p', 'q', 'y', 'j0', 'n', 'c', 'ob', 'k'] as const),
    ...f.i32s(['c4', 'o4', 'xStep', 'dyRow', 'xRow', 'xStart', 'dStart', 'wTap', 'wp', 'xp', 'dp'] as const),
  };
  const l: FilterGradientLocals = {
    f,
    a,
    v,
    acc: Array.from({ length: 8 }, () => f.v128()),
    d: Array.from({ length: 4 }, () => f.v128()),
    s: [f.v128(), f.v128()],
  };
  f.get(a('channels')).const(4).mul().set(v.c4);
  f.get(a('outChannels')).const(4).mul().set(v.o4);
  f.get(a('sw')).get(v.c4).mul().set(v.xStep);
  const loop = (counter: number, limit: () => void, body: () => void): void => {
    f.forRange(counter, () => f.const(0), limit, 1, body);
  };
  loop(
    v.b,
    () => f.get(a('batch')),
    () =>
      loop(
        v.i,
        () => f.get(a('outHeight')),
        () => {
          // dy[b, i, 0, 0]
          f.get(a('dy')).get(v.b).get(a('outHeight')).mul().get(v.i).add().get(a('outWidth')).mul().get(v.o4).mul().add().set(v.dyRow);
          loop(
            v.p,
            () => f.get(a('kh')),
            () => {
              f.get(v.i).get(a('sh')).mul().get(v.p).add().get(a('top')).sub().set(v.y);
              // 0 ≤ y < height, as one unsigned comparison.
              f.get(v.y).get(a('height')).ltU().if();
              f.get(a('x')).get(v.b).get(a('height')).mul().get(v.y).add().get(a('width')).mul().get(v.c4).mul().add().set(v.xRow);
              loop(
                v.q,
                () => f.get(a('kw')),
                () => tap(l),
              );
              f.end();
            },
          );
        },
      ),
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
