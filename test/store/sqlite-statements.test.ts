import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Statements } from '../../src/store/sqlite/rows.ts';

function database(): DatabaseSync {
  const db = new DatabaseSync(':memory:');
  db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, size REAL, body BLOB, note TEXT)`);
  db.exec(`INSERT INTO t VALUES (1, 'north', 2.5, x'00ff', NULL), (2, 'south', 3, NULL, 'late')`);
  return db;
}

const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-statements-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the store’s prepared statements', () => {
  it('give each row with the columns node:sqlite names, in order, with the same values', () => {
    const db = database();
    const sql = new Statements(db);
    const text = 'SELECT id, name, size, body, note FROM t ORDER BY id';
    const plain = db.prepare(text).all();
    const rows = sql.get(text).all();
    expect(rows.map((row) => Object.keys(row))).toEqual(plain.map((row) => Object.keys(row)));
    expect(rows.map((row) => ({ ...row }))).toEqual(plain.map((row) => ({ ...row })));
    expect(rows[0]!.body).toEqual(new Uint8Array([0, 255]));
    expect(rows[1]!.note).toBe('late');
    // Each row is its own object: changing one changes no other.
    (rows[0] as Record<string, unknown>).name = 'changed';
    expect(sql.get(text).all()[0]!.name).toBe('north');
  });

  it('get: the first row, or undefined when there is none; run: the changes', () => {
    const sql = new Statements(database());
    expect(sql.get('SELECT name FROM t WHERE id = ?').get(2)).toEqual({ name: 'south' });
    expect(sql.get('SELECT name FROM t WHERE id = ?').get(9)).toBeUndefined();
    expect(sql.get('UPDATE t SET note = ? WHERE id > ?').run('x', 0).changes).toBe(2);
    expect(sql.get('UPDATE t SET note = ? WHERE id = ? RETURNING id, note').get('y', 1)).toEqual({ id: 1, note: 'y' });
  });

  it('two columns of one name: the later one, as node:sqlite gives it; a column named __proto__ stays a column', () => {
    const db = database();
    const sql = new Statements(db);
    const twice = 'SELECT a.name, b.name FROM t a JOIN t b ON b.id = a.id + 1';
    expect({ ...sql.get(twice).get() }).toEqual({ ...db.prepare(twice).get() });
    expect(sql.get(twice).get()).toEqual({ name: 'south' });
    const proto = sql.get('SELECT name AS "__proto__" FROM t WHERE id = 1').get()!;
    expect(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value).toBe('north');
  });

  it('a column another connection added after the statement was prepared comes with the rows (SQLite prepares it again)', () => {
    const file = join(scratch, 'schema.db');
    const db = new DatabaseSync(file);
    db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t VALUES (1, 'north')`);
    const sql = new Statements(db);
    expect(sql.get('SELECT * FROM t').get()).toEqual({ id: 1, name: 'north' });
    const other = new DatabaseSync(file);
    other.exec(`ALTER TABLE t ADD COLUMN note TEXT DEFAULT 'added'`);
    other.close();
    expect(sql.get('SELECT * FROM t').get()).toEqual({ id: 1, name: 'north', note: 'added' });
    db.close();
  });
});
