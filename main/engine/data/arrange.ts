/**
 * Reorders fixed-size records in place so that record `j` becomes the old
 * record `order[j]`. Follows the permutation's cycles with one record of
 * scratch space: splitting a decoded dataset into train and validation
 * never needs a second copy of its pixels. `order` must be a permutation.
 */
export function permuteRecords(data: Uint8Array, recordBytes: number, order: ArrayLike<number>): void {
  const n = order.length;
  const placed = new Uint8Array(n);
  const scratch = new Uint8Array(recordBytes);
  for (let start = 0; start < n; start++) {
    if (placed[start] === 1 || order[start] === start) {
      placed[start] = 1;
      continue;
    }
    scratch.set(data.subarray(start * recordBytes, (start + 1) * recordBytes));
    let at = start;
    for (;;) {
      const from = order[at]!;
      placed[at] = 1;
      if (from === start) {
        data.set(scratch, at * recordBytes);
        break;
      }
      data.copyWithin(at * recordBytes, from * recordBytes, (from + 1) * recordBytes);
      at = from;
    }
  }
}

/**
 * Moves the records flagged in `keep` to the front, in order (a stable
 * compaction), and returns how many there are. Forward copies only, in place.
 */
export function compactRecords(data: Uint8Array, recordBytes: number, keep: Uint8Array): number {
  let to = 0;
  for (let from = 0; from < keep.length; from++) {
    if (keep[from] !== 1) continue;
    if (to !== from) data.copyWithin(to * recordBytes, from * recordBytes, (from + 1) * recordBytes);
    to++;
  }
  return to;
}
