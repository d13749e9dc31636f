import type { AttemptResult, RecordedAttempt, Store } from '../../src/store/store.ts';

/** One attempt committed on its own (a batch of one), as a lane's answer is. */
export async function recordAttempt(store: Pick<Store, 'commitAttempts'>, result: AttemptResult): Promise<RecordedAttempt> {
  const [recorded] = await store.commitAttempts([result]);
  return recorded!;
}
