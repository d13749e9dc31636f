import { describe, expect, it } from 'vitest';
import { createDestination, HttpClient } from '../../src/destinations/index.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Store } from '../../src/store/store.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { context, templateDir } from '../templates/support.ts';

const TEMPLATES = {
  'http/custom': '{\n  "title": {{json title}},\n  "ratio": 1.50,\n  "tags": [ "qos" ]\n}\n',
  'slack/custom': '{\n  "text": {{json title}}\n}\n',
};

function destination(type: 'http' | 'slack', template: string) {
  const templates = createTemplateEngine({ dirs: [templateDir(TEMPLATES), BUILTIN_TEMPLATES_DIR], version: 'test' });
  const url = type === 'http' ? 'http://127.0.0.1:9/hook' : 'https://hooks.slack.com/services/T000/B000/XXXX';
  return createDestination({ name: 'out', type, url, template } as Parameters<typeof createDestination>[0], {
    http: new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' }),
    templates,
    version: 'test',
    logger: silentLogger(),
    store: () => ({}) as Store,
  });
}

describe('the body an http destination sends', () => {
  it('is the template’s output as rendered: its spacing, key order and number forms kept', async () => {
    const body = await destination('http', 'http/custom').render(context({ title: 'Rebuffer "spike"' }));
    expect(body).toBe('{\n  "title": "Rebuffer \\"spike\\"",\n  "ratio": 1.50,\n  "tags": [ "qos" ]\n}\n');
  });

  it('the built-in envelope still parses to the event', async () => {
    const body = await destination('http', 'http/envelope').render(context({ title: 'Rebuffer spike' }));
    expect(JSON.parse(body)).toMatchObject({ event: { title: 'Rebuffer spike' } });
  });

  it('a destination that fits what it sends to a service (slack) sends the fitted message as compact JSON', async () => {
    const body = await destination('slack', 'slack/custom').render(context({ title: 'Rebuffer spike' }));
    expect(body).toBe('{"text":"Rebuffer spike"}');
  });
});
