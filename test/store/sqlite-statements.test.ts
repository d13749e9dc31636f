import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync, constants } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Statements } from '../../src/store/sqlite/rows.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent, succeededAttempt } from '../support/events.ts';
import { closeInThread, openInThread } from '../support/sqlite-ops.ts';

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

describe('statements are compiled once', () => {
  /** Counts SQLite's compilations on `db` from now on: its authorizer is asked at every one. */
  function compilations(db: DatabaseSync): { count: () => number } {
    let count = 0;
    db.setAuthorizer(() => {
      count += 1;
      return constants.SQLITE_OK;
    });
    return { count: () => count };
  }

  it('a LIMIT or OFFSET parameter bound to another value compiles nothing again', () => {
    const db = database();
    const sql = new Statements(db);
    const texts = ['SELECT id FROM t ORDER BY id LIMIT ?', 'SELECT id FROM t ORDER BY id LIMIT 1 OFFSET ?', 'SELECT id FROM t WHERE id > ?1 ORDER BY id LIMIT ?2'];
    const counted = compilations(db);
    sql.get(texts[0]!).all(1);
    sql.get(texts[1]!).all(0);
    sql.get(texts[2]!).all(1, 5);
    const prepared = counted.count();
    expect(sql.get(texts[0]!).all(2).map((row) => row.id)).toEqual([1, 2]);
    expect(sql.get(texts[1]!).all(1).map((row) => row.id)).toEqual([2]);
    expect(sql.get(texts[2]!).all(0, 1).map((row) => row.id)).toEqual([1]);
    expect(counted.count() - prepared).toBe(0);
  });

  it('a drain’s claims and records compile no statement after the first round', () => {
    const { db, ops } = openInThread(['slack']);
    try {
      const counted = compilations(db);
      const T0 = Date.parse('2026-04-23T18:28:00Z');
      let at = T0;
      const round = (size: number): void => {
        for (let index = 0; index < size; index++) {
          const event = relayEvent();
          const incident = `incident-${index % 3}`;
          ops.ingest({ ...batchOf(event, [], at), events: [{ event, deliveries: [{ id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', incident_key: incident }] }] });
        }
        at += 1_000;
        for (let claimed = ops.claimDue({ destination: 'slack', limit: size, now: at, lease_ms: 60_000, owner: 'lane-a' }); claimed.deliveries.length > 0; ) {
          ops.commitAttempts(claimed.deliveries.map((delivery) => succeededAttempt(delivery.id, 'lane-a', at + 10)));
          at += 100;
          claimed = ops.claimDue({ destination: 'slack', limit: size - 1, now: at, lease_ms: 60_000, owner: 'lane-a' });
        }
      };
      round(6);
      const prepared = counted.count();
      expect(prepared).toBeGreaterThan(0);
      round(9);
      expect(counted.count() - prepared).toBe(0);
      expect(db.prepare(`SELECT COUNT(*) AS n FROM deliveries WHERE status = 'succeeded'`).get()).toEqual({ n: 15 });
    } finally {
      closeInThread(db);
    }
  });
});
