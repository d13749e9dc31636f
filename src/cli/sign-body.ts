import { readFileSync } from 'node:fs';
import type { LoadedConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { isPresetName } from '../sources/preset-names.ts';
import { required } from './command.ts';
import { readConfig } from './offline-config.ts';
import { previewSource } from './preview-source.ts';
import { systemClock } from '../util/clock.ts';

/** `hookrelay sign`, once its options are parsed: the body from stdin, signed, on stdout. */
export function runSign(values: { source?: string; secret?: string; url?: string; config?: string }): number {
  const source = required(values.source, '--source');
  // Only the source's own secret is needed, and only when --secret does not give one.
  const signsAs = values.secret === undefined ? { source, instead: 'or give --secret' } : undefined;
  const loaded = readConfig(values.config, { purpose: 'sign', reads: ['sources'], signsAs });
  const configured = loaded?.config.sources.some((entry) => entry.name === source) === true;
  // Without a secret of its own, a preset would sign with a made-up one: headers that never verify.
  if (values.secret === undefined && !configured && isPresetName(source)) {
    const where = loaded?.file ? `${loaded.file} has no source named "${source}"` : `no config file (--config, HOOKRELAY_CONFIG or ./hookrelay.yaml) has a source "${source}"`;
    throw new ConfigError([`hookrelay sign: --secret is required: ${where} whose secret to sign with`]);
  }
  console.log(signBody({ source, secret: values.secret, body: readFileSync(0), url: values.url, loaded }));
  return 0;
}

/**
 * `hookrelay sign`: the headers a sender would send with this body (to test a source by
 * hand), or with `--url` a complete curl command.
 */
export function signBody(options: {
  source: string;
  secret: string | undefined;
  body: Buffer;
  url: string | undefined;
  loaded: LoadedConfig | null;
}): string {
  const source = previewSource(options.source, options.secret, options.loaded);
  const signed = source.sign(options.body, systemClock.now());
  const lines = Object.entries(signed.headers).map(([name, value]) => `${name}: ${value}`);
  if (options.url === undefined) {
    const query = new URLSearchParams(signed.query ?? {}).toString();
    return query ? [...lines, `query: ?${query}`].join('\n') : lines.join('\n');
  }
  const url = new URL(options.url);
  for (const [name, value] of Object.entries(signed.query ?? {})) url.searchParams.set(name, value);
  const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
  // Presets that send a Content-Type of their own must not get a second one.
  const typed = Object.keys(signed.headers).some((name) => name.toLowerCase() === 'content-type');
  return [
    `curl -sS -X POST ${quote(url.toString())}`,
    ...(typed ? [] : [`  -H 'content-type: application/json'`]),
    ...Object.entries(signed.headers).map(([name, value]) => `  -H ${quote(`${name}: ${value}`)}`),
    `  --data-binary ${quote(options.body.toString('utf8'))}`,
  ].join(' \\\n');
}
