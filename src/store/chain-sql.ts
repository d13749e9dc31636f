/**
 * The row (`d`) a commit may lease as its incident's next delivery (src/notify/incident-order.ts
 * `chainsNext`), as both stores write it (`now` is the placeholder of the commit's time): pending
 * and due, as a claim would lease it on its own, so neither grouped nor in a batch (a group's
 * wait and its batch are the claim's to form).
 */
export function chainableRow(now: string): string {
  return `d.status = 'pending' AND d.next_attempt_at <= ${now} AND d.group_key IS NULL AND d.batch_id IS NULL`;
}
