// platform.env as on Cloudflare: the backend's bindings, from @duro/bindings.
import type { DurableObjectNamespace } from '@duro/bindings';

declare global {
  namespace App {
    interface Platform {
      env: {
        TEST_DO: DurableObjectNamespace;
        MESSAGE_COORDINATOR: DurableObjectNamespace;
        COUNTDOWN_TIMER: DurableObjectNamespace;
      };
      ctx: { waitUntil(promise: Promise<unknown>): void };
    }
  }
}

export {};
