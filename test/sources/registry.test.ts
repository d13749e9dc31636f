import { describe, expect, it } from 'vitest';
import { createSource, PRESET_NAMES, SOURCE_PRESETS, sourceConfigSchema } from '../../src/sources/index.ts';
import { inbound, NOW_MS, testDeps, verdictCode } from './support.ts';

/** The smallest valid `sources:` entry of each preset. */
const MINIMAL: Record<string, Record<string, unknown>> = {
  tapemetric: { name: 'tapemetric', preset: 'tapemetric', secrets: ['s1'] },
  statuspulse: { name: 'statuspulse', preset: 'statuspulse', secrets: ['s1'] },
  statussentry: { name: 'statussentry', preset: 'statussentry', secrets: ['s1'] },
  tape: { name: 'tape', preset: 'tape', token: 't1' },
  'standard-webhooks': { name: 'billing', preset: 'standard-webhooks', secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] },
  alertmanager: { name: 'prometheus', preset: 'alertmanager', token: 't1' },
  hmac: { name: 'acme', preset: 'hmac', header: 'X-Acme-Signature', secrets: ['s1'] },
  grafana: { name: 'grafana', preset: 'grafana', secrets: ['s1'] },
  github: { name: 'github', preset: 'github', secrets: ['s1'] },
  stripe: { name: 'stripe', preset: 'stripe', secrets: ['whsec_s1'] },
  pagerduty: { name: 'pagerduty', preset: 'pagerduty', secrets: ['s1'] },
};

const ALL = ['tapemetric', 'statuspulse', 'statussentry', 'tape', 'standard-webhooks', 'alertmanager', 'hmac', 'grafana', 'github', 'stripe', 'pagerduty'];

describe('SOURCE_PRESETS', () => {
  it('lists every preset once', () => {
    expect(SOURCE_PRESETS.map((preset) => preset.preset)).toEqual(ALL);
    expect(PRESET_NAMES).toEqual(ALL);
  });
});

describe('sourceConfigSchema', () => {
  it.each(ALL)('a minimal %s entry parses', (preset) => {
    expect(sourceConfigSchema.safeParse(MINIMAL[preset]).success).toBe(true);
  });

  it.each(ALL)('%s: an unknown key is an error naming the key', (preset) => {
    const result = sourceConfigSchema.safeParse({ ...MINIMAL[preset], secret: 'typo for secrets' });
    const issue = result.error?.issues[0];
    expect(issue?.code).toBe('unrecognized_keys');
    expect(issue && 'keys' in issue ? issue.keys : []).toEqual(['secret']);
  });

  it('an unknown preset is an error at preset that lists the valid presets', () => {
    const result = sourceConfigSchema.safeParse({ name: 'x', preset: 'statuspage', secrets: ['s'] });
    const issue = result.error?.issues[0];
    expect(issue?.path).toEqual(['preset']);
    for (const name of ALL) expect(issue?.message).toContain(name);
  });

  it('a missing preset is an error at preset that lists the valid presets', () => {
    const issue = sourceConfigSchema.safeParse({ name: 'x', secrets: ['s'] }).error?.issues[0];
    expect(issue?.path).toEqual(['preset']);
    for (const name of ALL) expect(issue?.message).toContain(name);
  });

  it('an empty secrets list → error at secrets', () => {
    expect(sourceConfigSchema.safeParse({ ...MINIMAL['tapemetric'], secrets: [] }).error?.issues[0]?.path).toEqual(['secrets']);
  });

  it('a bad name → error at name', () => {
    expect(sourceConfigSchema.safeParse({ ...MINIMAL['tapemetric'], name: 'has space' }).error?.issues[0]?.path).toEqual(['name']);
  });

  it('a bad tolerance → error at tolerance', () => {
    expect(sourceConfigSchema.safeParse({ ...MINIMAL['statuspulse'], tolerance: 'soon' }).error?.issues[0]?.path).toEqual(['tolerance']);
  });

  it('defaults: 5m tolerance, statuspulse signs "<timestamp>.<body>", tape talks to api.tapeapp.com', () => {
    expect(sourceConfigSchema.parse(MINIMAL['statuspulse'])).toMatchObject({ tolerance: 300_000, signed: 'timestamp.body' });
    expect(sourceConfigSchema.parse(MINIMAL['tape'])).toMatchObject({ api_url: 'https://api.tapeapp.com', token: ['t1'] });
  });
});

describe('createSource', () => {
  it.each(ALL)('%s: builds a source with the configured name and preset', (preset) => {
    const config = sourceConfigSchema.parse(MINIMAL[preset]);
    const source = createSource(config, testDeps());
    expect([source.name, source.preset]).toEqual([MINIMAL[preset]?.['name'], preset]);
  });

  // The round trip only: verifiers are tested against independent signers in each preset's file.
  it.each(ALL)('%s: verify(sign(body)) round-trips', (preset) => {
    const source = createSource(sourceConfigSchema.parse(MINIMAL[preset]), testDeps());
    const body = Buffer.from('{"type":"qos.rebuffer_spike","id":"evt_1"}');
    const signed = source.sign(body, NOW_MS);
    expect(verdictCode(source.verify(inbound(body, signed.headers, signed.query ?? {}), NOW_MS))).toBe('ok');
  });

  it.each(ALL)('%s: sign() with another secret does not verify', (preset) => {
    const entry = MINIMAL[preset] ?? {};
    const other = 'secrets' in entry ? { ...entry, secrets: ['whsec_b3RoZXIgc2VjcmV0IGJ5dGVz'] } : { ...entry, token: 'other' };
    const signer = createSource(sourceConfigSchema.parse(other), testDeps());
    const verifier = createSource(sourceConfigSchema.parse(entry), testDeps());
    const body = Buffer.from('{}');
    const signed = signer.sign(body, NOW_MS);
    expect(verdictCode(verifier.verify(inbound(body, signed.headers, signed.query ?? {}), NOW_MS))).not.toBe('ok');
  });
});
