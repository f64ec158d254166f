/**
 * Just enough of a WebAssembly assembler to write a few SIMD loops that run
 * on the wasm backend's own memory: functions of i32 arguments with i32 and
 * v128 locals, blocks, loops, integer arithmetic, v128 loads and stores,
 * the float lane operations and memory.copy. No toolchain is needed at build or run time,
 * and the module is validated by the engine that instantiates it.
 */

type Local = number;

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const EMPTY_BLOCK = 0x40;

/** Lane operations, by their opcode after the 0xfd prefix. */
export const Simd = {
  f32x4Lt: 0x43,
  f32x4Gt: 0x44,
  v128And: 0x4e,
  f64x2PromoteLowF32x4: 0x5f,
  f32x4Sqrt: 0xe3,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Div: 0xe7,
  f32x4Min: 0xe8,
  f32x4Max: 0xe9,
  f64x2Add: 0xf0,
  f64x2Mul: 0xf2,
} as const;

function uleb(value: number, out: number[]): void {
  let v = value >>> 0;
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v === 0 ? byte : byte | 0x80);
  } while (v !== 0);
}

function sleb(value: number, out: number[]): void {
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return;
  }
}

function name(text: string, out: number[]): void {
  const bytes = new TextEncoder().encode(text);
  uleb(bytes.length, out);
  out.push(...bytes);
}

/** One function's body; its parameters are i32 locals 0 … params − 1. */
export class FunctionBuilder {
  readonly code: number[] = [];
  readonly locals: number[] = [];

  constructor(
    readonly exportName: string,
    readonly params: number,
  ) {}

  i32(): Local {
    this.locals.push(I32);
    return this.params + this.locals.length - 1;
  }

  /** One i32 local per name. */
  i32s<K extends string>(names: readonly K[]): Record<K, Local> {
    return Object.fromEntries(names.map((n) => [n, this.i32()])) as Record<K, Local>;
  }

  v128(): Local {
    this.locals.push(V128);
    return this.params + this.locals.length - 1;
  }

  f32(): Local {
    this.locals.push(F32);
    return this.params + this.locals.length - 1;
  }

  get(l: Local): this {
    this.code.push(0x20);
    uleb(l, this.code);
    return this;
  }

  set(l: Local): this {
    this.code.push(0x21);
    uleb(l, this.code);
    return this;
  }

  tee(l: Local): this {
    this.code.push(0x22);
    uleb(l, this.code);
    return this;
  }

  const(n: number): this {
    this.code.push(0x41);
    sleb(n, this.code);
    return this;
  }

  add(): this {
    return this.op(0x6a);
  }

  sub(): this {
    return this.op(0x6b);
  }

  mul(): this {
    return this.op(0x6c);
  }

  /** 1 if the i32 on top is zero, else 0. */
  eqz(): this {
    return this.op(0x45);
  }

  ltS(): this {
    return this.op(0x48);
  }

  ltU(): this {
    return this.op(0x49);
  }

  shl(): this {
    return this.op(0x74);
  }

  eq(): this {
    return this.op(0x46);
  }

  geU(): this {
    return this.op(0x4f);
  }

  leU(): this {
    return this.op(0x4d);
  }

  /** select(a, b, cond): cond ? a : b, with a, b and cond pushed in that order. */
  select(): this {
    return this.op(0x1b);
  }

  block(): this {
    return this.op(0x02, EMPTY_BLOCK);
  }

  loop(): this {
    return this.op(0x03, EMPTY_BLOCK);
  }

  /** if … end on the i32 on top (non-zero). */
  if(): this {
    return this.op(0x04, EMPTY_BLOCK);
  }

  end(): this {
    return this.op(0x0b);
  }

  br(depth: number): this {
    return this.op(0x0c, depth);
  }

  brIf(depth: number): this {
    return this.op(0x0d, depth);
  }

  /** v128.load from the address on the stack plus a constant byte offset. */
  load(offset = 0): this {
    this.code.push(0xfd, 0x00, 4);
    uleb(offset, this.code);
    return this;
  }

  /**
   * for (v = from; v < limit (unsigned); v += step) body: `from` and `limit`
   * push their value; `body` may not branch out of the loop.
   */
  forRange(v: Local, from: () => void, limit: () => void, step: number, body: () => void): this {
    from();
    this.set(v);
    this.block().loop();
    this.get(v);
    limit();
    this.geU().brIf(1);
    body();
    this.get(v).const(step).add().set(v);
    return this.br(0).end().end();
  }

  /** i32.load from the address on the stack plus a constant byte offset. */
  loadI32(offset = 0): this {
    this.code.push(0x28, 2);
    uleb(offset, this.code);
    return this;
  }

  /** i32.store of the value on top to the address below it, plus an offset. */
  storeI32(offset = 0): this {
    this.code.push(0x36, 2);
    uleb(offset, this.code);
    return this;
  }

  /** f32.load from the address on the stack plus a constant byte offset. */
  loadF32(offset = 0): this {
    this.code.push(0x2a, 2);
    uleb(offset, this.code);
    return this;
  }

  /** f32.store of the value on top to the address below it, plus an offset. */
  storeF32(offset = 0): this {
    this.code.push(0x38, 2);
    uleb(offset, this.code);
    return this;
  }

  /** f32.const 0. */
  zeroF32(): this {
    return this.op(0x43, 0, 0, 0, 0);
  }

  addF32(): this {
    return this.op(0x92);
  }

  mulF32(): this {
    return this.op(0x94);
  }

  /** One f32 from the address on the stack, in all four lanes (v128.load32_splat). */
  loadSplat(offset = 0): this {
    this.code.push(0xfd, 0x09, 2);
    uleb(offset, this.code);
    return this;
  }

  /** v128.store of the value on top to the address below it, plus an offset. */
  store(offset = 0): this {
    this.code.push(0xfd, 0x0b, 4);
    uleb(offset, this.code);
    return this;
  }

  zero(): this {
    this.code.push(0xfd, 0x0c, ...new Array<number>(16).fill(0));
    return this;
  }

  /** A float constant in all four lanes (v128.const). */
  splat(value: number): this {
    const lane = new Uint8Array(new Float32Array([value]).buffer);
    this.code.push(0xfd, 0x0c);
    for (let i = 0; i < 4; i++) this.code.push(...lane);
    return this;
  }

  /** The upper two 32-bit lanes of the vector on top, moved down. */
  high64(self: Local): this {
    this.get(self).get(self);
    this.code.push(0xfd, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    return this;
  }

  /** memory.copy (bulk memory): `bytes` bytes from `source` to `destination`, pushed in the order destination, source, bytes; overlapping ranges allowed. */
  memoryCopy(): this {
    return this.op(0xfc, 0x0a, 0x00, 0x00);
  }

  simd(opcode: number): this {
    this.code.push(0xfd);
    uleb(opcode, this.code);
    return this;
  }

  private op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
}

/** A module importing one memory (env.memory) and exporting `functions`. */
export function assemble(functions: readonly FunctionBuilder[]): Uint8Array {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const section = (id: number, body: number[]): void => {
    out.push(id);
    uleb(body.length, out);
    out.push(...body);
  };
  const types: number[] = [];
  uleb(functions.length, types);
  for (const f of functions) {
    types.push(0x60);
    uleb(f.params, types);
    for (let i = 0; i < f.params; i++) types.push(I32);
    types.push(0);
  }
  section(1, types);
  const imports: number[] = [1];
  name('env', imports);
  name('memory', imports);
  imports.push(0x02, 0x00, 1);
  section(2, imports);
  const decls: number[] = [];
  uleb(functions.length, decls);
  functions.forEach((_, i) => uleb(i, decls));
  section(3, decls);
  const exports: number[] = [];
  uleb(functions.length, exports);
  functions.forEach((f, i) => {
    name(f.exportName, exports);
    exports.push(0x00);
    uleb(i, exports);
  });
  section(7, exports);
  const code: number[] = [];
  uleb(functions.length, code);
  for (const f of functions) {
    const body: number[] = [];
    uleb(f.locals.length, body);
    for (const t of f.locals) body.push(1, t);
    body.push(...f.code, 0x0b);
    uleb(body.length, code);
    code.push(...body);
  }
  section(10, code);
  return new Uint8Array(out);
}
