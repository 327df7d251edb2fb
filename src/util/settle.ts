/**
 * Waits for two things done at once, then throws the first one's failure, else the second's, else
 * returns both values: the order says whose error the caller hears when both fail.
 */
export async function settleInOrder<A, B>(first: Promise<A>, second: Promise<B>): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}
