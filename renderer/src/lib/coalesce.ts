/**
 * A reload that events ask for in bursts (a sweep's cells change state one
 * after another): calls while a load is out share one more load after it,
 * so at most one request is in flight, the last state is always fetched,
 * and a caller's promise settles once a load that began after its call has.
 */
export function coalesced(load: () => Promise<void>): () => Promise<void> {
  let current: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const run = (): Promise<void> => {
    if (current === null) {
      current = load().finally(() => {
        current = null;
      });
      return current;
    }
    if (next === null) {
      const after = (): Promise<void> => {
        next = null;
        return run();
      };
      next = current.then(after, after);
    }
    return next;
  };
  return run;
}
