/**
 * The meeting point of data-parallel replicas: K engine instances (worker
 * threads, each with its own wasm backend, so each on its own core) train on
 * shards of every batch and agree, through one SharedArrayBuffer, on what a
 * single engine with the whole batch would have computed: batch-norm
 * statistics and their gradient sums, the gradients, the loss.
 *
 * Every replica runs the same code on the same network, so they reach the
 * same exchanges in the same order; each exchange is a barrier. Sums are
 * taken in replica order on every replica, so all of them get bit-identical
 * results and their weights never drift apart.
 */

/** How big the exchanges may be; fixed when the group is made. */
export interface GroupLayout {
  count: number;
  /** Longest vector `allReduce` takes (float64): batch-norm sums, scalars. */
  smallCapacity: number;
  /** Longest vector `allReduceLarge` takes (float32): the gradients. */
  largeCapacity: number;
}

/** A replica gave up (its step threw) or the group timed out: the step cannot complete. */
export class ReplicaAborted extends Error {
  override readonly name = 'ReplicaAborted';
}

const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;
const CONTROL_INTS = 4;
const REASON_BYTES = 1024;

/** How long a replica waits for the others before it decides one of them is gone. */
const WAIT_LIMIT_MS = 10 * 60_000;

function byteSize(layout: GroupLayout): { small: number; large: number; total: number } {
  const control = CONTROL_INTS * 4 + REASON_BYTES;
  const small = layout.count * 2 * layout.smallCapacity * 8;
  const large = layout.count * layout.largeCapacity * 4;
  return { small, large, total: control + small + large };
}

export function createGroupBuffer(layout: GroupLayout): SharedArrayBuffer {
  if (!Number.isInteger(layout.count) || layout.count < 2) throw new Error(`a replica group needs at least 2 replicas, got ${layout.count}`);
  return new SharedArrayBuffer(byteSize(layout).total);
}

export class ReplicaGroup {
  private readonly control: Int32Array;
  private readonly reason: Uint8Array;
  private readonly small: Float64Array;
  private readonly large: Float32Array;
  private exchanges = 0;

  constructor(
    buffer: SharedArrayBuffer,
    readonly layout: GroupLayout,
    /** This replica's place, 0 … count − 1; replica 0 leads (it owns the data and the run). */
    readonly index: number,
  ) {
    const sizes = byteSize(layout);
    if (buffer.byteLength !== sizes.total) throw new Error('the group buffer does not match its layout');
    this.control = new Int32Array(buffer, 0, CONTROL_INTS);
    this.reason = new Uint8Array(buffer, CONTROL_INTS * 4, REASON_BYTES);
    const smallStart = CONTROL_INTS * 4 + REASON_BYTES;
    this.small = new Float64Array(buffer, smallStart, layout.count * 2 * layout.smallCapacity);
    this.large = new Float32Array(buffer, smallStart + sizes.small, layout.count * layout.largeCapacity);
  }

  get count(): number {
    return this.layout.count;
  }

  /** Resolves once `n` replicas wait at the current barrier (a leader, or a test, can tell a waiting replica from a late one). */
  async arrivals(n: number): Promise<void> {
    for (let seen = Atomics.load(this.control, ARRIVED); seen < n; seen = Atomics.load(this.control, ARRIVED)) {
      await Atomics.waitAsync(this.control, ARRIVED, seen).value;
    }
  }

  /** Waits until every replica has arrived here. */
  barrier(): void {
    const c = this.control;
    const generation = Atomics.load(c, GENERATION);
    this.throwIfAborted();
    const arrived = Atomics.add(c, ARRIVED, 1);
    Atomics.notify(c, ARRIVED);
    if (arrived === this.count - 1) {
      Atomics.store(c, ARRIVED, 0);
      Atomics.add(c, GENERATION, 1);
      Atomics.notify(c, GENERATION);
      return;
    }
    const started = Date.now();
    while (Atomics.load(c, GENERATION) === generation) {
      Atomics.wait(c, GENERATION, generation, 1000);
      this.throwIfAborted();
      if (Date.now() - started > WAIT_LIMIT_MS) {
        this.abort(`replica ${this.index} waited ${WAIT_LIMIT_MS / 60_000} minutes for the others`);
        this.throwIfAborted();
      }
    }
    // An abort also moves the generation on: one that came between this replica's arrival and its wait must not pass for the others' arrival.
    this.throwIfAborted();
  }

  /**
   * The element-wise sum of every replica's `values` (same length on all),
   * in replica order. Two alternating slots per replica: a replica can be at
   * most one exchange ahead of the slowest, so it never overwrites a slot
   * another is still reading.
   */
  allReduce(values: ArrayLike<number>): Float64Array {
    const n = values.length;
    if (n > this.layout.smallCapacity) throw new Error(`allReduce of ${n} values exceeds the group's ${this.layout.smallCapacity}`);
    const parity = this.exchanges++ & 1;
    const cap = this.layout.smallCapacity;
    const slot = (replica: number): number => (replica * 2 + parity) * cap;
    const own = slot(this.index);
    for (let i = 0; i < n; i++) this.small[own + i] = values[i]!;
    this.barrier();
    const out = new Float64Array(n);
    for (let r = 0; r < this.count; r++) {
      const at = slot(r);
      for (let i = 0; i < n; i++) out[i]! += this.small[at + i]!;
    }
    return out;
  }

  /** The same for float32 vectors as long as all the gradients; one slot each, so a second barrier guards the reads. */
  allReduceLarge(values: Float32Array): Float32Array {
    const n = values.length;
    if (n > this.layout.largeCapacity) throw new Error(`allReduceLarge of ${n} values exceeds the group's ${this.layout.largeCapacity}`);
    const cap = this.layout.largeCapacity;
    this.large.set(values, this.index * cap);
    this.barrier();
    const out = new Float32Array(n);
    for (let r = 0; r < this.count; r++) {
      const part = this.large.subarray(r * cap, r * cap + n);
      for (let i = 0; i < n; i++) out[i]! += part[i]!;
    }
    this.barrier();
    return out;
  }

  /** Wakes every replica waiting in the group with this reason; the group is unusable afterwards. */
  abort(reason: string): void {
    if (Atomics.compareExchange(this.control, ABORTED, 0, 1) === 0) {
      const bytes = new TextEncoder().encode(reason).subarray(0, REASON_BYTES);
      this.reason.fill(0);
      this.reason.set(bytes);
    }
    Atomics.add(this.control, GENERATION, 1);
    Atomics.notify(this.control, GENERATION);
  }

  get aborted(): boolean {
    return Atomics.load(this.control, ABORTED) !== 0;
  }

  private throwIfAborted(): void {
    if (!this.aborted) return;
    const end = this.reason.indexOf(0);
    // TextDecoder will not read shared memory: copy the bytes out first.
    const text = new TextDecoder().decode(this.reason.slice(0, end < 0 ? REASON_BYTES : end));
    throw new ReplicaAborted(text === '' ? 'a training replica stopped' : text);
  }
}

let active: ReplicaGroup | null = null;

/** The group of the step being computed on this thread, if it is a data-parallel step. */
export function activeReplicaGroup(): ReplicaGroup | null {
  return active;
}

/** Runs `fn` (one step's forward and backward) with batch norms synchronised across `group`. */
export function withReplicaGroup<T>(group: ReplicaGroup, fn: () => T): T {
  const previous = active;
  active = group;
  try {
    return fn();
  } finally {
    active = previous;
  }
}
