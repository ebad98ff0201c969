/**
 * A bounded pool: run a worker over many items with at most `limit` in flight, so a mirror of
 * hundreds of layers neither runs them one by one nor opens hundreds of connections at once.
 */

/**
 * Runs `worker` over `items` with at most `limit` running at a time and returns the results in the
 * order of `items`. The first failure stops new work from starting; work already running finishes
 * (its results are dropped) before the failure is thrown, so no upload is left running unobserved.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  worker: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency must be a whole number of at least 1, not ${limit}`);
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await worker(items[index], index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure) throw failure.error;
  return results;
}
