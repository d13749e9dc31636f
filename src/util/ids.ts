import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

export type IdPrefix = 'evt' | 'dlv' | 'rcp' | 'mut';

/** Time-ordered, unique ids (`evt_01JD…`): sorting by id is sorting by creation. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${nextUlid()}`;
}

export function idKind(id: string): IdPrefix | null {
  const prefix = id.slice(0, 3);
  return id[3] === '_' && (prefix === 'evt' || prefix === 'dlv' || prefix === 'rcp' || prefix === 'mut') ? prefix : null;
}
