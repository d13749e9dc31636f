import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, factLogger, logFormat } from '../../src/observability/logger.ts';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  return {
    stream: new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString('utf8');
        done();
      },
    }),
    text: () => text,
  };
}

describe('logger', () => {
  it.each([
    [{}, true, 'pretty'],
    [{}, false, 'json'],
    [{ LOG_FORMAT: 'pretty' }, false, 'pretty'],
    [{ LOG_FORMAT: 'json' }, true, 'json'],
    [{ LOG_FORMAT: 'JSON' }, true, 'json'],
  ] as const)('LOG_FORMAT %j with a terminal: %s → %s', (env, tty, expected) => {
    expect(logFormat(env, tty)).toBe(expected);
  });

  it('JSON lines carry an ISO time and redact credentials', () => {
    const out = sink();
    createLogger({ format: 'json', destination: out.stream }).info({ request: { headers: { authorization: 'Bearer s3cret' } } }, 'hello');
    const line = JSON.parse(out.text()) as { time: string; msg: string; request: { headers: { authorization: string } } };
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(line.request.headers.authorization).toBe('[redacted]');
  });

  it('JSON lines name the level as a word ("level":"info"), on child loggers too', () => {
    const out = sink();
    const logger = createLogger({ format: 'json', destination: out.stream });
    logger.info('started');
    logger.child({ component: 'slack' }).warn('refused');
    logger.error('broken');
    const lines = out.text().trim().split('\n').map((line) => JSON.parse(line) as { level: unknown; msg: string });
    expect(lines.map((line) => [line.level, line.msg])).toEqual([['info', 'started'], ['warn', 'refused'], ['error', 'broken']]);
    expect(out.text()).toContain('{"level":"info",');
  });

  it('the per-event lines (factLogger) read like every other line, and the rest keep redacting', () => {
    const out = sink();
    const logger = createLogger({ format: 'json', destination: out.stream });
    factLogger(logger).info({ event_id: 'evt_1', title: 'Disk full' }, 'event accepted');
    logger.info({ source: { secret: 's3cret' } }, 'after');
    const [fact, after] = out.text().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(fact).toMatchObject({ level: 'info', service: 'hookrelay', event_id: 'evt_1', title: 'Disk full', msg: 'event accepted' });
    expect(fact!.time).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(after!.source).toEqual({ secret: '[redacted]' });
  });

  it('pretty lines are for people: ISO time, level word, message, fields below', () => {
    const out = sink();
    createLogger({ format: 'pretty', destination: out.stream }).warn({ source: 'tapemetric', reason: 'signature_mismatch' }, 'webhook refused');
    expect(out.text()).toMatch(/^\[\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\] WARN: webhook refused\n/);
    expect(out.text()).toContain('reason: "signature_mismatch"');
    expect(out.text()).not.toContain('{"level"');
  });
});
