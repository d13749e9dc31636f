import { ADMIN_TOKEN } from '../support/hookrelay.ts';

/** The `hookrelay_admin` session cookie's value and attributes, as Set-Cookie gave them. */
export interface SessionCookie {
  readonly value: string;
  readonly attributes: readonly string[];
}

export function sessionCookie(response: Response): SessionCookie | null {
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(';').map((part) => part.trim());
    if (pair?.startsWith('hookrelay_admin=')) return { value: pair.slice('hookrelay_admin='.length), attributes };
  }
  return null;
}

/** A plain-HTTP sign-in (no browser): the session cookie and the CSRF token of its pages. */
export async function signIn(url: string, headers: Record<string, string> = {}): Promise<{ cookie: string; csrf: string; set: SessionCookie }> {
  const response = await fetch(`${url}/admin/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ token: ADMIN_TOKEN }),
  });
  if (response.status !== 303) throw new Error(`sign-in answered ${response.status}`);
  const set = sessionCookie(response);
  if (!set) throw new Error('sign-in set no session cookie');
  const cookie = `hookrelay_admin=${set.value}`;
  const page = await (await fetch(`${url}/admin/secrets`, { headers: { cookie } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!csrf) throw new Error('no CSRF token in the page');
  return { cookie, csrf, set };
}

export function form(fields: Record<string, string>): { headers: Record<string, string>; body: string } {
  return { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() };
}
