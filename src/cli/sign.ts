import { readFileSync } from 'node:fs';
import { findConfigFile, loadConfig } from '../config/load.ts';
import type { LoadedConfig } from '../config/load.ts';
import { CONFIG_OPTION, defineCommand, required, UsageError } from './command.ts';
import { previewSource } from './preview-source.ts';

export const signCommand = defineCommand({
  name: 'sign',
  summary: 'print the headers a sender would send with a body (stdin), or a curl command with --url',
  synopsis: '--source tapemetric --secret S [--url http://localhost:3000/hooks/tapemetric] [--config FILE] < body.json',
  options: {
    source: { type: 'string', short: 's', value: 'NAME', description: 'a source of the config, or a preset (tapemetric, statussentry, …)' },
    secret: { type: 'string', value: 'SECRET', description: "the secret (or token) to sign with; default: the configured source's" },
    url: { type: 'string', value: 'URL', description: 'print a complete curl command posting the body to this URL' },
    config: { ...CONFIG_OPTION, description: 'a config file whose source (and secret) to use' },
  },
  async run({ values }) {
    const file = values.config ? findConfigFile(values.config, process.env) : null;
    const loaded = file ? loadConfig({ file, env: process.env }) : null;
    const source = required(values.source, '--source');
    // Without a secret of its own, a preset would sign with a made-up one: headers that never verify.
    if (values.secret === undefined && !loaded?.config.sources.some((configured) => configured.name === source)) {
      throw new UsageError(`--secret is required (or --config with a source named "${source}")`);
    }
    console.log(signBody({ source, secret: values.secret, body: readFileSync(0), url: values.url, loaded }));
    return 0;
  },
});

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
  const signed = source.sign(options.body, Date.now());
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
