// A signed session cookie: the page's load issues one, and
// /api/ws/connect only forwards sockets that carry a valid one (and come
// from the page's own origin). The key is DURO_SESSION_SECRET, or a
// random one for this process.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Cookies } from '@sveltejs/kit';

const key = process.env.DURO_SESSION_SECRET || randomBytes(32).toString('hex');
export const COOKIE = 'duro_session';

const sign = (id: string) => createHmac('sha256', key).update(id).digest('base64url');

export function ensureSession(cookies: Cookies, secure: boolean) {
  if (validSession(cookies.get(COOKIE))) return;
  const id = randomBytes(16).toString('base64url');
  cookies.set(COOKIE, `${id}.${sign(id)}`, { path: '/', httpOnly: true, sameSite: 'strict', secure, maxAge: 86400 });
}

export function validSession(value: string | undefined): boolean {
  if (!value) return false;
  const dot = value.indexOf('.');
  if (dot <= 0) return false;
  const want = Buffer.from(sign(value.slice(0, dot)));
  const got = Buffer.from(value.slice(dot + 1));
  return got.length === want.length && timingSafeEqual(got, want);
}
