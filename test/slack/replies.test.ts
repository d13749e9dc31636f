import { describe, expect, it } from 'vitest';
import { configMute } from '../../src/mutes/config-mutes.ts';
import { muteList } from '../../src/slack/replies.ts';

describe('Slack replies: /hookrelay mutes', () => {
  it('lists the config mutes as from the config (with their intervals) beside run-time ones with their end', () => {
    const at = Date.parse('2026-11-29T10:00:00Z');
    const text = muteList([
      configMute({ name: 'batch-jobs', matchers: { type: 'batch.*' }, reason: 'nightly batch noise', during: ['nights'] }, at),
      { id: 'mut_01', matchers: { type: 'qos.*' }, reason: 'cdn', created_by: 'dana', created_at: '2026-11-29T10:00:00.000Z', expires_at: '2026-11-29T12:00:00.000Z', deleted_at: null },
    ]);
    expect(text.split('\n')).toEqual([
      '*2 active mutes*',
      '• `batch-jobs` `type=batch.*` from the config, during nights by config — nightly batch noise',
      '• `mut_01` `type=qos.*` until <!date^1795953600^{date_short_pretty} {time}|2026-11-29T12:00:00.000Z> by dana — cdn',
    ]);
  });
});
