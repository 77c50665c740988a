import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
// `npm run web:dev` proxies the api's paths to a running api (LIMEN_API, default the api's own port).
const api = process.env.LIMEN_API ?? 'http://127.0.0.1:18443';

export default defineConfig({
  root,
  plugins: [react()],
  resolve: { alias: { '@limen/sdk': fileURLToPath(new URL('../../libs/sdk/src/index.ts', import.meta.url)) } },
  build: {
    // The api serves this folder at / (apps/api/src/web/dashboard.ts).
    outDir: fileURLToPath(new URL('../../dist/web', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target: api, ws: true },
      '/console': { target: api, ws: true },
      '/health': api,
    },
  },
});
