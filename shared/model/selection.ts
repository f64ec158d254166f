/**
 * Which channels of a full-width tensor the small path carries, as sorted,
 * disjoint half-open ranges [start, end). A ResNet tensor's selection is one
 * prefix; a DenseNet concatenation joins the pieces' own prefixes, so its
 * selection is a union of ranges (docs/ARCHITECTURE.md, "The method in the code").
 */
export type Range = readonly [start: number, end: number];
export type Selection = readonly Range[];

export function prefix(n: number): Selection {
  return n > 0 ? [[0, n]] : [];
}

export function count(sel: Selection): number {
  let n = 0;
  for (const [a, b] of sel) n += b - a;
  return n;
}

export function isPrefix(sel: Selection): boolean {
  return sel.length === 0 || (sel.length === 1 && sel[0]![0] === 0);
}

export function equal(a: Selection, b: Selection): boolean {
  return a.length === b.length && a.every((r, i) => r[0] === b[i]![0] && r[1] === b[i]![1]);
}

/** Shift a selection by `offset` channels (its place inside a concatenation). */
export function shift(sel: Selection, offset: number): Selection {
  return sel.map(([a, b]) => [a + offset, b + offset] as const);
}

/** Concatenate selections of consecutive pieces whose full widths are `widths`. */
export function concat(sels: readonly Selection[], widths: readonly number[]): Selection {
  const out: Array<readonly [number, number]> = [];
  let offset = 0;
  sels.forEach((sel, i) => {
    for (const [a, b] of shift(sel, offset)) {
      const last = out[out.length - 1];
      if (last !== undefined && last[1] === a) out[out.length - 1] = [last[0], b];
      else out.push([a, b]);
    }
    offset += widths[i]!;
  });
  return out;
}

/** Channel indices of a selection, in order. */
export function indices(sel: Selection): number[] {
  const out: number[] = [];
  for (const [a, b] of sel) for (let i = a; i < b; i++) out.push(i);
  return out;
}
