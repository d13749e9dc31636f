import type { Dispatcher } from '../dispatch/dispatcher.ts';
import type { TestSendResult } from '../dispatch/test-send.ts';
import { HookrelayError } from '../errors.ts';
import type { Operations } from '../slack/operations.ts';
import type { DeliveryRecord, Mute, Store } from '../store/store.ts';
import { newStandardSecret } from '../util/standard-webhooks.ts';

/**
 * What the admin pages do, as the application's shared operations provide it (the same ones
 * the admin API and the Slack app call): the pages only gather form fields and show results.
 */
export interface AdminOperations {
  /** A new delivery sending the same request again. */
  replay(deliveryId: string): Promise<readonly DeliveryRecord[]>;
  /** Replays every failed delivery of a destination created since `since` (ms), not replayed before. */
  replayFailedSince(destination: string, since: number): Promise<readonly DeliveryRecord[]>;
  /** Re-enables an auto-disabled destination. */
  enable(destination: string): Promise<void>;
  /** A dry run: a sample event sent now, outside the queue, and what came back. */
  test(destination: string): Promise<TestSendResult>;
  mute(request: { matchers: Record<string, string>; duration_ms: number; reason: string; created_by: string }): Promise<Mute>;
  unmute(id: string): Promise<Mute | null>;
  activeMutes(): readonly Mute[];
  /** A new `whsec_` secret. */
  newSecret(): string;
}

/**
 * Until the shared application module lands: the Slack app's operations, plus enable and bulk
 * replay as the admin API does them (store change, then a nudge to the dispatcher).
 */
export function adminOperations(deps: { operations: Operations; store: Store; dispatcher: Dispatcher }): AdminOperations {
  const { operations, store, dispatcher } = deps;
  return {
    replay: (id) => operations.replay(id),
    async replayFailedSince(destination, since) {
      const failed = (await store.listDeliveries({ destination, status: 'failed', limit: 1_000 })).filter((delivery) => Date.parse(delivery.created_at) >= since);
      const replays: DeliveryRecord[] = [];
      for (const delivery of failed.reverse()) replays.push(...(await operations.replay(delivery.id)));
      return replays;
    },
    async enable(destination) {
      if (!(await store.enableDestination(destination, Date.now()))) throw new HookrelayError('not_found', `no destination is named "${destination}"`);
      dispatcher.enabled(destination);
    },
    test: (destination) => operations.test(destination),
    mute: (request) => operations.mute(request.matchers, request.duration_ms, request.reason, request.created_by),
    unmute: (id) => operations.unmute(id),
    activeMutes: () => operations.activeMutes(),
    newSecret: () => newStandardSecret(),
  };
}
