import { describe, expect, it } from 'vitest';
import { MAX_RENDER_DEPTH, TOO_DEEP } from '../../src/templates/depth.ts';
import { renderEveryDefault } from '../support/render-defaults.ts';
import { event } from './support.ts';

/** `levels` arrays around "bottom", built without recursion. */
function nested(levels: number): unknown {
  let value: unknown = 'bottom';
  for (let level = 0; level < levels; level += 1) value = [value];
  return value;
}

describe('rendering cannot overflow the stack (issue 10, defect 2)', () => {
  it('data nested 100,000 levels deep (an event stored before the ingest limit) renders for every default template', () => {
    const rendered = renderEveryDefault(event({ data: { detail: nested(100_000) } }));
    const envelope = JSON.stringify(rendered.http);
    // Cut at the render depth, with a visible marker where it was cut.
    expect(envelope).toContain(JSON.stringify(TOO_DEEP));
    expect(envelope).not.toContain('bottom');
  });

  it('data just inside the render depth renders whole, with no marker', () => {
    // envelope → payload → detail: the payload's object is one level, detail's arrays the rest.
    const rendered = renderEveryDefault(event({ data: { detail: nested(MAX_RENDER_DEPTH - 1) } }));
    const payload = (rendered.http as { payload: { detail: unknown } }).payload;
    expect(payload.detail).toEqual(nested(MAX_RENDER_DEPTH - 1));
    expect(JSON.stringify(rendered)).not.toContain(TOO_DEEP);
  });

  it('a deep value in a field shown as text ({{value}} of an object) renders too', () => {
    const rendered = renderEveryDefault(event({ summary: nested(50_000) as unknown as string, title: nested(50_000) as unknown as string }));
    expect(JSON.stringify(rendered.slack)).toContain(TOO_DEEP.replace(/[[\]]/g, ''));
  });
});
