// The heading comes from TEST_DO("global"); the countdown action
// broadcasts {count, timestamp} from 10 to 0, a second apart, through
// MESSAGE_COORDINATOR("global"): platform.env as on Cloudflare.
import { fail } from '@sveltejs/kit';
import type { Actions, PageServerLoad } from './$types';
import { ensureSession } from '$lib/session';

export const load: PageServerLoad = async ({ platform, cookies, url }) => {
  ensureSession(cookies, url.protocol === 'https:');
  try {
    const env = platform!.env;
    const res = await env.TEST_DO.get(env.TEST_DO.idFromName('global')).fetch('http://do/');
    const { message } = await res.json();
    return { heading: String(message) };
  } catch (e) {
    console.error('TEST_DO:', e);
    return { heading: null };
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const actions: Actions = {
  countdown: async ({ platform }) => {
    const stub = platform!.env.MESSAGE_COORDINATOR.getByName('global');
    const send = async (count: number) => {
      const res = await stub.fetch('http://do/broadcast', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ count, timestamp: Date.now() }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    let status: number;
    try {
      status = await send(10); // the first at once: its failure is the action's
    } catch {
      return fail(502);
    }
    if (status !== 200) return fail(status);
    platform!.ctx.waitUntil(
      (async () => {
        for (let count = 9; count >= 0; count--) {
          await sleep(1000);
          await send(count);
        }
      })(),
    );
    return { started: true };
  },
};
