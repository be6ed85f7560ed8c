// The browser's socket: 426 without an upgrade; 401 without the page's
// session, 403 from another origin; else the upgrade goes to
// MessageCoordinator("global") through the binding, exactly as on
// Cloudflare: return stub.fetch(request).
import { error } from '@sveltejs/kit';
import type { RequestHandler } from './$types';
import { COOKIE, validSession } from '$lib/session';

export const GET: RequestHandler = async ({ request, platform, cookies, url }) => {
  if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket')
    return new Response('Expected Upgrade: websocket', { status: 426 });
  if (!validSession(cookies.get(COOKIE))) error(401, 'no session: load the page first');
  if (request.headers.get('origin') !== url.origin) error(403, 'the socket must come from the page');
  const env = platform!.env;
  return env.MESSAGE_COORDINATOR.get(env.MESSAGE_COORDINATOR.idFromName('global')).fetch(request);
};
