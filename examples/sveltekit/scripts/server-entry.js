// After `vite build`: makes build/index.js serve adapter-node's handler
// with WebSocket upgrades (@duro/bindings/sveltekit's serve), so that
// `node build` runs the app with its /api/ws/connect route working.
// adapter-node's own server cannot hand an upgrade to a route; PORT,
// HOST, ORIGIN and SHUTDOWN_TIMEOUT keep their meaning.
import { writeFileSync } from 'node:fs';

writeFileSync(new URL('../build/index.js', import.meta.url), `// Written by scripts/server-entry.js after vite build.
import { handler } from './handler.js';
import { serve } from '@duro/bindings/sveltekit';

serve(handler);
`);
console.log("build/index.js: adapter-node's handler with WebSocket upgrades");
