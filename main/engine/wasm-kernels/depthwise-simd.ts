import { assemble, FunctionBuilder, Simd } from './wasm-assembler.js';
import { HeapModule, type WasmMemory } from './wasm-runtime.js';

/**
 * Depthwise convolution (one filter per channel, NHWC, no dilation) as
 * WebAssembly SIMD loop nests. Channels are independent, so every loop runs
 * along the channels of a pixel: sixteen at a time (four lane vectors),
 * then the rest in one block of twelve, eight or four, then one by one
 * (scalar f32) for a count that is not a multiple of four. Every block
 * walks all the taps, so a small path's 12 or 24 channels take one or two
 * blocks, not three (measured 1.5–2× faster on those layers than blocks of
 * four). Which taps meet which pixel is decided in JavaScript,
 * once per row and column, and handed over as tables (depthwise-tables.ts).
 *
 * `gather` writes every output pixel from its taps:
 *   dst[b, r, col, c] = Σ_{kr < nr, kc < nc} src[b, sRow(kr), sCol(kc), c] · w[p(kr), q(kc), c]
 * with, from the row table entry of r (wRow, sRow, nr) and the column
 * table entry of col (wCol, sCol, nc), byte offsets advancing by the given
 * steps. The forward pass is a gather over x (taps in order); so is the
 * input gradient, over dy (taps a stride apart, dy rows backwards), which
 * writes every dx pixel once and needs no zeroed output.
 *
 * `filterGrad` adds into dw (zeroed by the caller), per output row and tap,
 * one run along the row: dw[p, q, c] += Σ_j x[b, h, j·sw + q − left, c] · dy[b, i, j, c].
 *
 * Arguments are i32: addresses and sizes in bytes (c4 = 4·channels) except
 * the batch and the spatial sizes; tables are i32 triples.
 */
export interface DepthwiseSimd {
  gather(
    src: number,
    w: number,
    dst: number,
    batch: number,
    srcH: number,
    srcW: number,
    dstH: number,
    dstW: number,
    c4: number,
    rows: number,
    cols: number,
    rowTapStep: number,
    rowSrcStep: number,
    colTapStep: number,
    colSrcStep: number,
  ): void;
  filterGrad(
    x: number,
    dy: number,
    dw: number,
    batch: number,
    height: number,
    width: number,
    outH: number,
    outW: number,
    c4: number,
    kw: number,
    rows: number,
    cols: number,
    sw: number,
  ): void;
}

/** How many channels one pass of the channel loop takes: four lane vectors, three, two, one, or one float. */
type Block = { kind: 'v128'; vectors: 4 | 3 | 2 | 1 } | { kind: 'f32' };

const BLOCKS: readonly Block[] = [
  { kind: 'v128', vectors: 4 },
  { kind: 'v128', vectors: 3 },
  { kind: 'v128', vectors: 2 },
  { kind: 'v128', vectors: 1 },
  { kind: 'f32' },
];

const bytesOf = (block: Block): number => (block.kind === 'v128' ? 16 * block.vectors : 4);

/** Accumulator locals and the loads, multiply-adds and stores of one block. */
class BlockOps {
  readonly acc: number[];

  constructor(
    private readonly f: FunctionBuilder,
    private readonly block: Block,
    vectors: number[],
    scalar: number,
  ) {
    this.acc = block.kind === 'v128' ? vectors.slice(0, block.vectors) : [scalar];
  }

  zero(): void {
    for (const r of this.acc) (this.block.kind === 'v128' ? this.f.zero() : this.f.zeroF32()).set(r);
  }

  /** acc = the values at `address` (+ the block's byte offsets). */
  load(address: number): void {
    this.acc.forEach((r, m) => {
      this.f.get(address);
      (this.block.kind === 'v128' ? this.f.load(16 * m) : this.f.loadF32()).set(r);
    });
  }

  /** acc += a[…] · b[…] */
  multiplyAdd(a: number, b: number): void {
    this.acc.forEach((r, m) => {
      const f = this.f.get(r);
      if (this.block.kind === 'v128') {
        f.get(a)
          .load(16 * m)
          .get(b)
          .load(16 * m)
          .simd(Simd.f32x4Mul)
          .simd(Simd.f32x4Add);
      } else {
        f.get(a).loadF32().get(b).loadF32().mulF32().addF32();
      }
      f.set(r);
    });
  }

  store(address: number): void {
    this.acc.forEach((r, m) => {
      this.f.get(address).get(r);
      if (this.block.kind === 'v128') this.f.store(16 * m);
      else this.f.storeF32();
    });
  }
}

/** `body(block)` for every block that fits, cb advancing over the pixel's channel bytes [0, c4). */
function channelBlocks(f: FunctionBuilder, cb: number, c4: number, body: (block: Block) => void): void {
  f.const(0).set(cb);
  for (const block of BLOCKS) {
    const bytes = bytesOf(block);
    f.block().loop();
    // cb + bytes > c4: no such block left.
    f.get(c4).get(cb).const(bytes).add().ltU().brIf(1);
    body(block);
    f.get(cb).const(bytes).add().set(cb);
    f.br(0).end().end();
  }
}

/** for (k = n; k != 0; k--) body */
function countdown(f: FunctionBuilder, k: number, n: () => void, body: () => void): void {
  n();
  f.set(k);
  f.block().loop();
  f.get(k).eqz().brIf(1);
  body();
  f.get(k).const(1).sub().set(k);
  f.br(0).end().end();
}

/** Reads an i32 triple of a table: (table + 12·index) → a, b, n. */
function entry(f: FunctionBuilder, table: number, index: number, into: [number, number, number]): void {
  into.forEach((local, k) => {
    f.get(table)
      .get(index)
      .const(12)
      .mul()
      .add()
      .loadI32(4 * k)
      .set(local);
  });
}

const GATHER_ARGS = [
  'src',
  'w',
  'dst',
  'batch',
  'srcH',
  'srcW',
  'dstH',
  'dstW',
  'c4',
  'rows',
  'cols',
  'rowTapStep',
  'rowSrcStep',
  'colTapStep',
  'colSrcStep',
] as const;

type GatherArg = (typeof GATHER_ARGS)[number];
type GatherLocal = 'b' | 'r' | 'col' | 'cb' | 'kr' | 'kc' | 'srcImg' | 'dstPx' | 'wRow' | 'sRow' | 'nr' | 'wCol' | 'sCol' | 'nc' | 'rw' | 'rs' | 'pw' | 'ps';

/** One output pixel: every channel block sums its valid taps (the row and column tables say which), then stores. */
function gatherPixel(f: FunctionBuilder, a: (name: GatherArg) => number, v: Record<GatherLocal, number>, vectors: number[], scalar: number): void {
  channelBlocks(f, v.cb, a('c4'), (block) => {
    const ops = new BlockOps(f, block, vectors, scalar);
    ops.zero();
    f.get(a('w')).get(v.wRow).add().get(v.cb).add().set(v.rw);
    f.get(v.srcImg).get(v.sRow).add().get(v.cb).add().set(v.rs);
    countdown(
      f,
      v.kr,
      () => f.get(v.nr),
      () => {
        f.get(v.rw).get(v.wCol).add().set(v.pw);
        f.get(v.rs).get(v.sCol).add().set(v.ps);
        countdown(
          f,
          v.kc,
          () => f.get(v.nc),
          () => {
            ops.multiplyAdd(v.ps, v.pw);
            f.get(v.pw).get(a('colTapStep')).add().set(v.pw);
            f.get(v.ps).get(a('colSrcStep')).add().set(v.ps);
          },
        );
        f.get(v.rw).get(a('rowTapStep')).add().set(v.rw);
        f.get(v.rs).get(a('rowSrcStep')).add().set(v.rs);
      },
    );
    f.get(v.dstPx).get(v.cb).add().set(v.pw);
    ops.store(v.pw);
  });
}

function gather(): FunctionBuilder {
  const f = new FunctionBuilder('gather', GATHER_ARGS.length);
  const a = (name: GatherArg): number => GATHER_ARGS.indexOf(name);
  const v = {
    ...f.i32s(['b', 'r', 'col', 'cb', 'kr', 'kc'] as const),
    ...f.i32s(['srcImg', 'dstPx', 'wRow', 'sRow', 'nr', 'wCol', 'sCol', 'nc', 'rw', 'rs', 'pw', 'ps'] as const),
  };
  const vectors = Array.from({ length: 4 }, () => f.v128());
  const scalar = f.f32();
  const loop = (counter: number, limit: () => void, body: () => void): void => {
    f.forRange(counter, () => f.const(0), limit, 1, body);
  };
  loop(
    v.b,
    () => f.get(a('batch')),
    () => {
      f.get(a('src')).get(v.b).get(a('srcH')).mul().get(a('srcW')).mul().get(a('c4')).mul().add().set(v.srcImg);
      loop(
        v.r,
        () => f.get(a('dstH')),
        () => {
          entry(f, a('rows'), v.r, [v.wRow, v.sRow, v.nr]);
          loop(
            v.col,
            () => f.get(a('dstW')),
            () => {
              entry(f, a('cols'), v.col, [v.wCol, v.sCol, v.nc]);
              // dst[b, r, col, 0]
              f.get(a('dst')).get(v.b).get(a('dstH')).mul().get(v.r).add().get(a('dstW')).mul().get(v.col).add().get(a('c4')).mul().add().set(v.dstPx);
              gatherPixel(f, a, v, vectors, scalar);
            },
          );
        },
      );
    },
  );
  return f;
}

const FILTER_ARGS = ['x', 'dy', 'dw', 'batch', 'height', 'width', 'outH', 'outW', 'c4', 'kw', 'rows', 'cols', 'sw'] as const;

type FilterArg = (typeof FILTER_ARGS)[number];
type FilterLocal =
  'b' | 'i' | 'q' | 'cb' | 'kr' | 'k' | 'xImg' | 'dyRow' | 'wRow' | 'xRow' | 'nr' | 'xCol' | 'dyCol' | 'nc' | 'wr' | 'xr' | 'wq' | 'px' | 'pd' | 'xStep';

/** Filter column q of the current tap row: each channel block adds x·dy over the output columns the tap covers. */
function filterTap(f: FunctionBuilder, a: (name: FilterArg) => number, v: Record<FilterLocal, number>, vectors: number[], scalar: number): void {
  entry(f, a('cols'), v.q, [v.xCol, v.dyCol, v.nc]);
  f.get(v.nc).if();
  f.get(v.wr).get(v.q).get(a('c4')).mul().add().set(v.wq);
  channelBlocks(f, v.cb, a('c4'), (block) => {
    const ops = new BlockOps(f, block, vectors, scalar);
    f.get(v.wq).get(v.cb).add().set(v.px);
    ops.load(v.px);
    f.get(v.xr).get(v.xCol).add().get(v.cb).add().set(v.px);
    f.get(v.dyRow).get(v.dyCol).add().get(v.cb).add().set(v.pd);
    countdown(
      f,
      v.k,
      () => f.get(v.nc),
      () => {
        ops.multiplyAdd(v.px, v.pd);
        f.get(v.px).get(v.xStep).add().set(v.px);
        f.get(v.pd).get(a('c4')).add().set(v.pd);
      },
    );
    f.get(v.wq).get(v.cb).add().set(v.px);
    ops.store(v.px);
  });
  f.end();
}

function filterGrad(): FunctionBuilder {
  const f = new FunctionBuilder('filterGrad', FILTER_ARGS.length);
  const a = (name: FilterArg): number => FILTER_ARGS.indexOf(name);
  const v = {
    ...f.i32s(['b', 'i', 'q', 'cb', 'kr', 'k'] as const),
    ...f.i32s(['xImg', 'dyRow', 'wRow', 'xRow', 'nr', 'xCol', 'dyCol', 'nc', 'wr', 'xr', 'wq', 'px', 'pd', 'xStep'] as const),
  };
  const vectors = Array.from({ length: 4 }, () => f.v128());
  const scalar = f.f32();
  const loop = (counter: number, limit: () => void, body: () => void): void => {
    f.forRange(counter, () => f.const(0), limit, 1, body);
  };
  f.get(a('sw')).get(a('c4')).mul().set(v.xStep);
  loop(
    v.b,
    () => f.get(a('batch')),
    () => {
      f.get(a('x')).get(v.b).get(a('height')).mul().get(a('width')).mul().get(a('c4')).mul().add().set(v.xImg);
      loop(
        v.i,
        () => f.get(a('outH')),
        () => {
          // dy[b, i, 0, 0]; the taps p of this row that land in the image.
          f.get(a('dy')).get(v.b).get(a('outH')).mul().get(v.i).add().get(a('outW')).mul().get(a('c4')).mul().add().set(v.dyRow);
          entry(f, a('rows'), v.i, [v.wRow, v.xRow, v.nr]);
          f.get(a('dw')).get(v.wRow).add().set(v.wr);
          f.get(v.xImg).get(v.xRow).add().set(v.xr);
          countdown(
            f,
            v.kr,
            () => f.get(v.nr),
            () => {
              loop(
                v.q,
                () => f.get(a('kw')),
                () => filterTap(f, a, v, vectors, scalar),
              );
              // Next tap row p + 1: one filter row and one image row on.
              f.get(v.wr).get(a('kw')).get(a('c4')).mul().add().set(v.wr);
              f.get(v.xr).get(a('width')).get(a('c4')).mul().add().set(v.xr);
            },
          );
        },
      );
    },
  );
  return f;
}

const module = new HeapModule<DepthwiseSimd>(
  () => assemble([gather(), filterGrad()]),
  (exports) => ({
    gather: exports['gather'] as DepthwiseSimd['gather'],
    filterGrad: exports['filterGrad'] as DepthwiseSimd['filterGrad'],
  }),
);

/** The loop nests bound to `memory` (the wasm backend's heap), or null where this engine has no wasm SIMD. */
export function depthwiseSimd(memory: WasmMemory): DepthwiseSimd | null {
  return module.on(memory);
}
