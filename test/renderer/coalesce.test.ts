import { describe, expect, it } from 'vitest';
import { coalesced } from '../../renderer/src/lib/coalesce.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('coalesced reloads', () => {
  it('a burst during a load makes exactly one more load, after it', async () => {
    const loads: Array<{ resolve: () => void }> = [];
    const run = coalesced(() => {
      const d = deferred();
      loads.push(d);
      return d.promise;
    });
    const first = run();
    const a = run();
    const b = run();
    expect(loads).toHaveLength(1);
    expect(a).toBe(b);
    loads[0]!.resolve();
    await first;
    await Promise.resolve();
    await Promise.resolve();
    expect(loads).toHaveLength(2);
    let settled = false;
    void a.then(() => (settled = true));
    await Promise.resolve();
    // Their promise waits for the load that began after the calls.
    expect(settled).toBe(false);
    loads[1]!.resolve();
    await a;
    expect(loads).toHaveLength(2);
  });
  it('a call after everything settled loads again; a failed load does not stop the next', async () => {
    let n = 0;
    const run = coalesced(async () => {
      n += 1;
      if (n === 1) throw new Error('offline');
    });
    await expect(run()).rejects.toThrow('offline');
    await run();
    expect(n).toBe(2);
  });
});
