import type { LoadedConfig } from '../config/load.ts';
import { previewSource } from './preview-source.ts';

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
