import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';
import { duroUpgrades } from '@duro/bindings/sveltekit';

// duroUpgrades: in `vite dev`, a WebSocket upgrade goes through the app's
// routes like any request, so /api/ws/connect's stub.fetch(request) works
// in dev as in the built server (server.js).
export default defineConfig({
  plugins: [sveltekit(), duroUpgrades()],
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
});
