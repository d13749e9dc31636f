import { describe, expect, it } from 'vitest';
import { parseCommand, tokenize } from '../../src/slack/command-parser.ts';

describe('/hookrelay command parsing', () => {
  it('mute: matchers, then a duration, then the reason', () => {
    expect(parseCommand('mute type=qos.* data.region=Maharashtra 2h deploy in progress')).toEqual({
      kind: 'mute',
      matchers: { type: 'qos.*', 'data.region': 'Maharashtra' },
      duration_ms: 7_200_000,
      reason: 'deploy in progress',
    });
  });

  it('durations 30m, 2h, 1d', () => {
    const ms = (text: string) => {
      const command = parseCommand(`mute type=x ${text}`);
      return command.kind === 'mute' ? command.duration_ms : null;
    };
    expect([ms('30m'), ms('2h'), ms('1d')]).toEqual([1_800_000, 7_200_000, 86_400_000]);
  });

  it('quoted values keep their spaces, Slack smart quotes too', () => {
    expect(tokenize('mute data.region="New York" 1h')).toEqual(['mute', 'data.region=New York', '1h']);
    const command = parseCommand('mute data.city=“São Paulo” 1h');
    expect(command).toMatchObject({ kind: 'mute', matchers: { 'data.city': 'São Paulo' } });
  });

  it('Slack-escaped characters in the text are read as typed', () => {
    expect(parseCommand('mute title=a&amp;b&lt;c&gt; 1h')).toMatchObject({ matchers: { title: 'a&b<c>' } });
  });

  it('mute without matchers, without a duration, or with an empty glob → usage', () => {
    expect(parseCommand('mute 2h').kind).toBe('usage');
    expect(parseCommand('mute type=qos.*').kind).toBe('usage');
    expect(parseCommand('mute type=qos.* soon').kind).toBe('usage');
    expect(parseCommand('mute type= 1h').kind).toBe('usage');
  });

  it('each other verb, and wrong arity → usage', () => {
    expect(parseCommand('unmute mut_1')).toEqual({ kind: 'unmute', id: 'mut_1' });
    expect(parseCommand('replay evt_1')).toEqual({ kind: 'replay', id: 'evt_1' });
    expect(parseCommand('test ops-slack')).toEqual({ kind: 'test', destination: 'ops-slack' });
    expect(parseCommand('STATUS')).toEqual({ kind: 'status' });
    expect(parseCommand('mutes')).toEqual({ kind: 'mutes' });
    expect(parseCommand('')).toEqual({ kind: 'help' });
    expect(parseCommand('unmute').kind).toBe('usage');
    expect(parseCommand('replay a b').kind).toBe('usage');
    expect(parseCommand('launch rockets')).toEqual({ kind: 'usage', problem: 'unknown command `launch`' });
  });
});
