/**
 * Runs `job` on every item with at most `limit` running at once, in item
 * order of starting. Once `signal` aborts, no new job starts; the running
 * ones finish, then the abort reason is thrown. A job that throws stops
 * the rest the same way and its error is rethrown.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  job: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const lane = async (): Promise<void> => {
    while (failure === null && signal?.aborted !== true && next < items.length) {
      const i = next++;
      try {
        await job(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure !== null) throw (failure as { error: unknown }).error;
  signal?.throwIfAborted();
}
