import { describe, expect, it } from 'vitest';
import { formatBytes, parseByteSize } from '../../src/util/byte-size.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { buildComponents } from '../../src/runtime.ts';
import { problemAt, problemsOf } from './support.ts';

const MB = 1024 ** 2;

describe('store: a URL, or { url, min_free }', () => {
  it('the string form is the URL, with the default reserve', () => {
    const config = parseConfigText('store: sqlite:/tmp/x.db\n', {});
    expect(config.store).toBe('sqlite:/tmp/x.db');
    expect(config.store_min_free).toBeNull();
  });

  it('the object form gives the URL and store.min_free (256MB, 1GB, 5% of the volume, or bytes)', () => {
    expect(parseConfigText('store: { url: "sqlite:/tmp/x.db", min_free: 256MB }\n', {})).toMatchObject({
      store: 'sqlite:/tmp/x.db',
      store_min_free: { bytes: 256 * MB },
    });
    expect(parseConfigText('store: { min_free: 1GB }\n', {}).store_min_free).toEqual({ bytes: 1024 * MB });
    expect(parseConfigText('store: { min_free: "10%" }\n', {}).store_min_free).toEqual({ percent: 10 });
    expect(parseConfigText('store: { min_free: 1048576 }\n', {}).store_min_free).toEqual({ bytes: MB });
    // `min_free: ${VAR}` arrives as text.
    expect(parseConfigText('store: { min_free: "${MIN_FREE}" }\n', { MIN_FREE: '512MiB' }).store_min_free).toEqual({ bytes: 512 * MB });
  });

  it('without store.url the URL is found as without store: (DATABASE_URL, else the data folder)', () => {
    expect(parseConfigText('store: { min_free: 64MB }\n', { HOOKRELAY_DATA_DIR: '/var/lib/hookrelay' }).store).toBe('sqlite:/var/lib/hookrelay/hookrelay.db');
    expect(parseConfigText('store: { min_free: 64MB }\n', { DATABASE_URL: 'postgres://db/hookrelay' }).store).toBe('postgres://db/hookrelay');
  });

  it('a size that is not one, an unknown key, a bad URL → one clear line each at its path', () => {
    expect(problemAt(problemsOf('store: { min_free: lots }\n'), 'store.min_free')).toBe(
      'store.min_free: "lots" is not a size (use 256MB, 1GB, or 5% of the volume)',
    );
    expect(problemAt(problemsOf('store: { min_free: "150%" }\n'), 'store.min_free')).toMatch(/is not a size/);
    expect(problemAt(problemsOf('store: { min_fre: 1GB }\n'), 'store.min_fre')).toMatch(/did you mean "min_free"/);
    expect(problemAt(problemsOf('store: { url: "mysql://db/x" }\n'), 'store.url')).toMatch(/not a store URL/);
  });

  it('with PostgreSQL, store.min_free is ignored with a warning: the database server\'s disk is not hookrelay\'s', async () => {
    const config = parseConfigText('store: { url: "postgres://db/hookrelay", min_free: 1GB }\n', {});
    const components = await buildComponents(config, { baseDir: process.cwd(), logger: silentLogger() });
    try {
      expect(components.warnings).toContainEqual(expect.stringMatching(/store\.min_free applies to the SQLite store only/));
    } finally {
      await components.close();
    }
  });
});

describe('sizes', () => {
  it('parse in powers of 1024 (as df -h counts) and print with up to three significant digits', () => {
    expect(parseByteSize('256MB')).toEqual({ bytes: 256 * MB });
    expect(parseByteSize('1.5 GiB')).toEqual({ bytes: 1.5 * 1024 * MB });
    expect(parseByteSize('0')).toEqual({ bytes: 0 });
    expect(parseByteSize('5 %')).toEqual({ percent: 5 });
    expect(parseByteSize('5 MBs')).toBeNull();
    expect([800 * 1024, 4_149_248, 4 * MB, 12.5 * MB, 250 * MB, 1.5 * 1024 * MB].map(formatBytes)).toEqual([
      '800 KB',
      '3.96 MB',
      '4 MB',
      '12.5 MB',
      '250 MB',
      '1.5 GB',
    ]);
  });
});
