import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.ts';
import { renderingOf } from '../destinations/index.ts';
import type { IncomingEvent, RelayEvent } from '../events/event.ts';
import { ConfigError } from '../errors.ts';
import type { InboundRequest, PresetName, Source } from '../sources/index.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../templates/index.ts';
import type { TemplateEngine } from '../templates/index.ts';
import { VERSION } from '../version.ts';
import { samplePayload } from '../sources/samples.ts';
import { required, UsageError } from './command.ts';
import { readConfig } from './offline-config.ts';
import { previewSource } from './preview-source.ts';
import { systemClock } from '../util/clock.ts';

/** `hookrelay render`, once its options are parsed: the output as JSON on stdout. */
export async function runRender(values: { template?: string; source?: string; event?: string; sample?: boolean; config?: string }): Promise<number> {
  // The source's normalization, the destinations' types and templates: no secret, address or admin token.
  const loaded = readConfig(values.config, { purpose: 'render', reads: ['sources', 'destinations', 'templates_dir'] });
  const output = await renderPreview({
    template: required(values.template, '--template'),
    source: required(values.source, '--source'),
    eventFile: values.sample ? values.event : required(values.event, '--event (or --sample)'),
    sample: values.sample === true,
    loaded,
  });
  console.log(JSON.stringify(output, null, 2));
  return 0;
}

/**
 * `hookrelay render`: what a template makes of a sender's payload, exactly as it would be
 * sent (escaped, validated and fitted for Slack or PagerDuty). One output per event.
 * The payload is `--event FILE`, or with `--sample` a fresh sample of the source's preset.
 */
export async function renderPreview(options: {
  template: string;
  source: string;
  eventFile?: string | undefined;
  sample?: boolean;
  loaded: LoadedConfig | null;
}): Promise<unknown> {
  const { loaded } = options;
  if (options.sample && options.eventFile !== undefined) throw new UsageError('give --event FILE or --sample, not both');
  const source = previewSource(options.source, undefined, loaded);
  const events = previewEvents(source, options.eventFile === undefined ? normalizeSample(source) : readEvent(options.eventFile, source));

  const dirs = loaded?.config.templates_dir ? [resolve(loaded.baseDir, loaded.config.templates_dir), BUILTIN_TEMPLATES_DIR] : [BUILTIN_TEMPLATES_DIR];
  const engine = createTemplateEngine({ dirs, version: VERSION });
  // Escaped as the destination that uses it would: a configured destination's type, else the folder name.
  const user = loaded?.config.destinations.find((destination) => destination.template === options.template);
  const destinationType = user?.type ?? options.template.split('/')[0]!;
  engine.prepare(options.template, renderingOf(destinationType).mode);
  const outputs = events.map((event) => renderFor(engine, { template: options.template, type: destinationType, name: '(preview)' }, event));
  return outputs.length === 1 ? outputs[0] : outputs;
}

/**
 * The request a sender would make with these bytes: normalizers may read headers the sender adds
 * (GitHub's X-GitHub-Event and X-GitHub-Delivery), so they come from the preset's `sign()`.
 */
function asSent(source: Source, rawBody: Buffer): InboundRequest {
  const signed = source.sign(rawBody, systemClock.now());
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = value;
  return { headers, query: signed.query ?? {}, rawBody };
}

/** `--sample`: a fresh sample payload of the source's preset, normalized as the server would. */
function normalizeSample(source: Source): IncomingEvent[] {
  const rawBody = Buffer.from(samplePayload(source.preset as PresetName));
  return source.normalize(JSON.parse(rawBody.toString('utf8')), asSent(source, rawBody));
}

/** The events as hookrelay would store them, with preview ids (nothing is stored). */
export function previewEvents(source: Source, incoming: readonly IncomingEvent[], now = systemClock.now()): RelayEvent[] {
  const receivedAt = new Date(now).toISOString();
  return incoming.map((item, index) => ({
    id: `evt_preview${index + 1}`,
    source: source.name,
    ...item,
    occurred_at: item.occurred_at ?? receivedAt,
    received_at: receivedAt,
  }));
}

/** What a destination of this type would be sent for the event: rendered, escaped, validated and fitted. */
export function renderFor(engine: TemplateEngine, destination: { template: string; type: string; name: string }, event: RelayEvent): unknown {
  const rendering = renderingOf(destination.type);
  const context = { ...event, events: [event], hookrelay: { version: VERSION, destination: destination.name, delivery_id: 'dlv_preview' } };
  const rendered = engine.render(destination.template, rendering.mode, context);
  return rendering.fit ? rendering.fit(rendered, destination.template, context) : rendered;
}

/** The sender's payload from `--event`; a file that cannot be used is a usage error naming it. */
export function readEvent(file: string, source: Source): IncomingEvent[] {
  const problem = (what: string): ConfigError => new ConfigError([`--event ${file}: ${what}`]);
  let rawBody: Buffer;
  try {
    rawBody = readFileSync(file);
  } catch (error) {
    throw problem(`cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let payload: unknown;
  try {
    payload = JSON.parse(rawBody.toString('utf8'));
  } catch (error) {
    throw problem(`not JSON (${(error as Error).message})`);
  }
  try {
    return source.normalize(payload, asSent(source, rawBody));
  } catch (error) {
    throw problem(`not a ${source.preset} payload: ${(error as Error).message}`);
  }
}
