import { defineConfig } from '@playwright/test';

/**
 * The dashboard driven as a person would, in Debian's Chromium (`npx playwright install` cannot
 * download browsers here), against a real api (dist/apps/api/main.js, started by the fixture in
 * api.ts) on real PostgreSQL and libvirt. One worker: the files share that api, and the journey's
 * steps build on each other.
 */
export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 240_000,
  expect: { timeout: 15_000 },
  reporter: process.env.PLAYWRIGHT_JSON_OUTPUT_NAME ? [['list'], ['json']] : [['list']],
  // Beside this file, so each checkout (worktree) has its own: a run empties it first, and a
  // shared folder let two runs at once delete each other's traces mid-test.
  outputDir: 'test-results',
  use: {
    browserName: 'chromium',
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' },
    locale: 'en-US',
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
});
