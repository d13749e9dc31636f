import { describe, expect, it } from 'vitest';
import { formatDuration, formatNumber, humanize } from '../../src/util/format.ts';

describe('formatNumber', () => {
  it('groups thousands and trims trailing zeros, like en-US Intl', () => {
    const cases: Array<[number, Parameters<typeof formatNumber>[1], string]> = [
      [24_000, {}, '24,000'],
      [8.4, {}, '8.4'],
      [-1_234_567.891, {}, '-1,234,567.891'],
      [0.1 + 0.2, {}, '0.3'],
      [999.9996, {}, '1,000'],
      [5, { decimals: 2 }, '5.00'],
      [1234.5678, { maxDecimals: 2 }, '1,234.57'],
      [-0.0001, {}, '0'],
      [1e21, {}, '1,000,000,000,000,000,000,000'],
      [Number.NaN, {}, 'NaN'],
    ];
    for (const [value, options, text] of cases) expect(formatNumber(value, options), String(value)).toBe(text);
  });
});

describe('formatDuration', () => {
  it('shows the two largest units', () => {
    expect([450, 150_000, 3_600_000, 273_600_000].map(formatDuration)).toEqual(['450ms', '2m 30s', '1h', '3d 4h']);
  });
});

describe('humanize', () => {
  it('keeps common acronyms as people write them: QoS, API, HTTP, SLA, CPU, DNS, SSL, TLS, URL, ID, IP, CDN, DB, SMS', () => {
    const cases: Array<[string, string]> = [
      ['qos.rebuffer_spike', 'QoS rebuffer spike'],
      ['api_latency.high', 'API latency high'],
      ['http.5xx_rate', 'HTTP 5xx rate'],
      ['sla.breach', 'SLA breach'],
      ['cpu.usage_high', 'CPU usage high'],
      ['dns.resolution_failed', 'DNS resolution failed'],
      ['ssl_certificate.expiring', 'SSL certificate expiring'],
      ['tls.handshake_errors', 'TLS handshake errors'],
      ['url.changed', 'URL changed'],
      ['order_id', 'Order ID'],
      ['ip_blocked', 'IP blocked'],
      ['cdn.origin_error', 'CDN origin error'],
      ['db.connection_pool_exhausted', 'DB connection pool exhausted'],
      ['sms.delivery_failed', 'SMS delivery failed'],
      ['QOS_drop', 'QoS drop'],
      ['qosScore', 'QoS score'],
      ['HTTPError', 'HTTP error'],
      ['listAPIs', 'List APIs'],
    ];
    for (const [text, expected] of cases) expect(humanize(text), text).toBe(expected);
  });

  it('words that merely start like an acronym are left alone', () => {
    expect(humanize('video.ideal_bitrate')).toBe('Video ideal bitrate');
    expect(humanize('apiary.dbase_update')).toBe('Apiary dbase update');
  });
});
