import { defineConfig } from '@playwright/test';
import base from './playwright.config';

/** `npm run web:screenshots`: docs/screenshots/ from the built dashboard (run `npm run build` first). */
export default defineConfig({ ...base, testMatch: '*.shots.ts', timeout: 300_000 });
