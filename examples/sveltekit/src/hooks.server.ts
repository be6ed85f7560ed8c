// platform.env for every request: the backend's bindings (DURO_BACKEND,
// default http://127.0.0.1:8787, with DURO_INTERNAL_SECRET), as
// Cloudflare's adapter provides them. The page's language goes into
// <html lang>.
import { sequence } from '@sveltejs/kit/hooks';
import type { Handle } from '@sveltejs/kit';
import { platformHandle } from '@duro/bindings/sveltekit';

const lang: Handle = ({ event, resolve }) => {
  const de = event.url.pathname === '/de' || event.url.pathname.startsWith('/de/');
  return resolve(event, { transformPageChunk: ({ html }) => html.replace('%lang%', de ? 'de' : 'en') });
};

export const handle = sequence(platformHandle(), lang);
