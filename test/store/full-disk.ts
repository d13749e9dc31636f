import { DatabaseSync } from 'node:sqlite';

/**
 * A full disk, made and undone without root: the store is opened with a `maxPageCount`, and a
 * second connection to the same file fills it up to that many pages with a ballast table (as
 * other files fill a disk); `release` deletes the ballast, as an operator freeing space would.
 * The store's writer can then take the freed pages again.
 */
export class Ballast {
  readonly #db: DatabaseSync;

  constructor(path: string) {
    this.#db = new DatabaseSync(path, { timeout: 5_000 });
    this.#db.exec('CREATE TABLE IF NOT EXISTS test_ballast (bytes BLOB NOT NULL)');
  }

  /** Until the file has `pages` pages and none of them is free. */
  fill(pages: number): void {
    const insert = this.#db.prepare('INSERT INTO test_ballast (bytes) VALUES (zeroblob(4000))');
    const count = (pragma: string): number => Number(Object.values(this.#db.prepare(`PRAGMA ${pragma}`).get() ?? {})[0]);
    while (count('page_count') < pages || count('freelist_count') > 0) {
      this.#db.exec('BEGIN');
      for (let i = 0; i < 50; i++) insert.run();
      this.#db.exec('COMMIT');
    }
  }

  release(): void {
    this.#db.exec('DELETE FROM test_ballast');
  }

  close(): void {
    this.#db.close();
  }
}
