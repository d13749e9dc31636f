/**
 * What one render may cost. A template runs for every delivery, on the event loop, over data a
 * sender chose: four nested `{{#each}}` over a payload's 58 keys are 11 million iterations, and
 * built 893 MB in 14 s for one 1.4 KB event. So every render carries a budget, checked while it
 * runs (not after), and a render that overspends stops at once with a RenderBudgetError — a
 * template problem, so its delivery fails with the reason and is not retried.
 */

import { formatNumber } from '../util/format.ts';

/** The most a render may cost; RENDER_LIMITS unless a caller (a test) says otherwise. */
export interface RenderLimits {
  /** Bytes of UTF-8 the template may output. */
  readonly output_bytes: number;
  /** Iterations of `{{#each}}`, all blocks of the render together. */
  readonly iterations: number;
  /** Characters the helpers may read and write in all (their text arguments, values turned into text, their results). */
  readonly helper_text: number;
}

const MB = 1024 * 1024;

/**
 * 1 MB of output: the largest webhook hookrelay itself accepts (src/http/app.ts), hence the
 * largest event a template sees, so every accepted event still renders and is cut to Slack's and
 * PagerDuty's own limits by their fit steps (slack-message.ts, pagerduty-event.ts), as before;
 * an http body goes out as rendered, and 1 MB is also where common receivers stop (nginx's
 * default `client_max_body_size`, hookrelay's own limit). 100,000 iterations are ten times a
 * full storm digest (MAX_DIGEST) walked once. 16 MB of helper text is sixteen full outputs.
 * Measured on a 2-core test machine, a runaway render stops within 0.1–0.3 s on the first two,
 * and within about a second on the third at worst (humanize, the slowest helper per character,
 * called on a huge field in a loop).
 */
export const RENDER_LIMITS: RenderLimits = { output_bytes: MB, iterations: 100_000, helper_text: 16 * MB };

export type RenderBudgetKind = 'output' | 'iterations' | 'helper_text';

/** A render stopped because it would cost more than its budget. `code` is stable; the message is the reason. */
export class RenderBudgetError extends Error {
  readonly code = 'render_budget_exceeded';
  readonly kind: RenderBudgetKind;
  readonly limit: number;
  constructor(kind: RenderBudgetKind, limit: number) {
    super(describe(kind, limit));
    this.name = 'RenderBudgetError';
    this.kind = kind;
    this.limit = limit;
  }
}

function describe(kind: RenderBudgetKind, limit: number): string {
  switch (kind) {
    case 'output':
      return `output over ${formatSize(limit)}`;
    case 'iterations':
      return `over ${formatNumber(limit)} iterations of {{#each}} (nested loops over sender data?)`;
    default:
      return `helpers read or wrote over ${formatSize(limit)} of text`;
  }
}

/** `1 MB`, `512 KB`, `1,000 bytes`. */
export function formatSize(bytes: number): string {
  if (bytes >= MB && bytes % MB === 0) return `${bytes / MB} MB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KB`;
  return `${formatNumber(bytes)} bytes`;
}

/** The budget of the render in progress. */
interface RenderMeter {
  limits: RenderLimits;
  iterations: number;
  helperText: number;
}

// Rendering is synchronous, so the render in progress is one slot, reached here by helpers and
// the escape step instead of through Handlebars' `@data` (which a template can print). A render
// inside a render (none today) would get its own budget and hand the outer one back after.
let active: RenderMeter | null = null;

/** Runs one render under a fresh budget. */
export function withRenderBudget<T>(limits: RenderLimits, render: () => T): T {
  const previous = active;
  active = { limits, iterations: 0, helperText: 0 };
  try {
    return render();
  } finally {
    active = previous;
  }
}

/** Text a helper read or wrote (characters). Outside a render (previews of one value, tests) it costs nothing. */
export function chargeHelperText(length: number): void {
  const meter = active;
  if (meter === null) return;
  meter.helperText += length;
  if (meter.helperText > meter.limits.helper_text) throw new RenderBudgetError('helper_text', meter.limits.helper_text);
}

/** One iteration of a `{{#each}}` block. */
export function chargeIteration(): void {
  const meter = active;
  if (meter === null) return;
  meter.iterations += 1;
  if (meter.iterations > meter.limits.iterations) throw new RenderBudgetError('iterations', meter.limits.iterations);
}

/**
 * What one block has built so far (UTF-16 code units): a block's output is part of the
 * template's, and each code unit is at least one byte of UTF-8, so more units than the byte
 * limit is already over it.
 */
export function checkBlockOutput(units: number): void {
  const meter = active;
  if (meter !== null && units > meter.limits.output_bytes) throw new RenderBudgetError('output', meter.limits.output_bytes);
}

/** The finished output, in bytes: counted exactly only when its length alone cannot tell. */
export function checkOutput(output: string, limits: RenderLimits): void {
  // At most 3 bytes of UTF-8 per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units).
  if (output.length * 3 <= limits.output_bytes) return;
  if (output.length > limits.output_bytes || Buffer.byteLength(output, 'utf8') > limits.output_bytes) {
    throw new RenderBudgetError('output', limits.output_bytes);
  }
}
