import { readFileSync } from 'node:fs';

/** hookrelay's version, from package.json (User-Agent: hookrelay/<version>). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
