/**
 * Small schema decoders for data that enters from outside the type system
 * (JSON read back from SQLite, files, IPC payloads): parse with a schema,
 * then trust the type inside (docs/ARCHITECTURE.md, "Conventions").
 * A failure names the path of the bad field and what was found there.
 */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    readonly path: string,
    expected: string,
    got: unknown,
  ) {
    super(`${path}: expected ${expected}, got ${describe(got)}`);
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? typeof v : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export type Decoder<T> = (value: unknown, path: string) => T;
export type Decoded<D> = D extends Decoder<infer T> ? T : never;

export const num: Decoder<number> = (v, path) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new DecodeError(path, 'a finite number', v);
  return v;
};

export const int: Decoder<number> = (v, path) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new DecodeError(path, 'an integer', v);
  return v;
};

export const str: Decoder<string> = (v, path) => {
  if (typeof v !== 'string') throw new DecodeError(path, 'a string', v);
  return v;
};

export const bool: Decoder<boolean> = (v, path) => {
  if (typeof v !== 'boolean') throw new DecodeError(path, 'true or false', v);
  return v;
};

/** Any value, kept as it is (for a part that another decoder reads later). */
export const anything: Decoder<unknown> = (v) => v;

/** One of a fixed set of strings or numbers. */
export function oneOf<const T extends string | number>(values: readonly T[]): Decoder<T> {
  return (v, path) => {
    if (!(values as readonly unknown[]).includes(v)) throw new DecodeError(path, `one of ${values.join(', ')}`, v);
    return v as T;
  };
}

export function nullable<T>(d: Decoder<T>): Decoder<T | null> {
  return (v, path) => (v === null ? null : d(v, path));
}

/** An optional field: absent stays absent. */
export function optional<T>(d: Decoder<T>): Decoder<T | undefined> {
  return (v, path) => (v === undefined ? undefined : d(v, path));
}

export function arr<T>(d: Decoder<T>): Decoder<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) throw new DecodeError(path, 'an array', v);
    return v.map((x, i) => d(x, `${path}[${i}]`));
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function record<T>(d: Decoder<T>): Decoder<Record<string, T>> {
  return (v, path) => {
    if (!isObject(v)) throw new DecodeError(path, 'an object', v);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, d(x, `${path}.${k}`)]));
  };
}

type Shape = Record<string, Decoder<unknown>>;
type Fields<S extends Shape> = { [K in keyof S as undefined extends Decoded<S[K]> ? never : K]: Decoded<S[K]> } & {
  [K in keyof S as undefined extends Decoded<S[K]> ? K : never]?: Decoded<S[K]>;
};

/**
 * An object with the given fields. Fields it does not name are kept as they
 * are, so a newer writer's additions survive a round trip through older code.
 */
export function obj<S extends Shape>(shape: S): Decoder<Fields<S>> {
  return (v, path) => {
    if (!isObject(v)) throw new DecodeError(path, 'an object', v);
    const out: Record<string, unknown> = { ...v };
    for (const [k, d] of Object.entries(shape)) {
      const x = d(v[k], `${path}.${k}`);
      if (x === undefined) delete out[k];
      else out[k] = x;
    }
    return out as Fields<S>;
  };
}

/** A union told apart by a string field (`kind`, `type`…). */
export function tagged<K extends string, M extends Record<string, Decoder<unknown>>>(key: K, cases: M): Decoder<Decoded<M[keyof M]>> {
  return (v, path) => {
    if (!isObject(v)) throw new DecodeError(path, 'an object', v);
    const tag = v[key];
    const d = typeof tag === 'string' ? cases[tag] : undefined;
    if (d === undefined) throw new DecodeError(`${path}.${key}`, `one of ${Object.keys(cases).join(', ')}`, tag);
    return d(v, path) as Decoded<M[keyof M]>;
  };
}

/** The first decoder that accepts the value. */
export function either<A, B>(a: Decoder<A>, b: Decoder<B>, expected: string): Decoder<A | B> {
  return (v, path) => {
    try {
      return a(v, path);
    } catch {
      try {
        return b(v, path);
      } catch {
        throw new DecodeError(path, expected, v);
      }
    }
  };
}

/** Parses JSON text and decodes it; `what` names the document in errors. */
export function decodeJson<T>(text: string, d: Decoder<T>, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DecodeError(what, 'valid JSON', `${text.slice(0, 40)} (${(e as Error).message})`);
  }
  return d(value, what);
}
