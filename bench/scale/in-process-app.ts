/**
 * The api's AppModule booted in this process (no HTTP listener), the way test/support/test-app.ts
 * does, so a curve can call a service (the reconcile sweep) and time it exactly, and can swap the
 * hypervisor for the in-memory one (the 10,000-domain sweep, the 50-host pipeline).
 */
import { INestApplication, Provider, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VIRTUALIZATION_PORT, VirtualizationPort } from '@limen/libvirt';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from '../../apps/api/src/app.module';
import { initApp } from '../../apps/api/src/app.setup';
import { loadConfig } from '../../apps/api/src/config/app-config';
import { onCleanup } from './common';

export interface InProcessOptions {
  env: Record<string, string>;
  /** Replaces the port built from configuration (the local host's hypervisor). */
  localPort?: VirtualizationPort;
  /** Replaces providers by class (e.g. HostPorts with one that hands out in-memory hosts). */
  classes?: Array<{ provide: Type; useClass: Type }>;
  /** Serve HTTP on a free loopback port (main.ts's wiring); the base URL is `base`. */
  listen?: boolean;
}

export async function bootInProcess(options: InProcessOptions): Promise<{ app: INestApplication; base: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'limen-scale-app-'));
  onCleanup('in-process data dir', () => rmSync(dataDir, { recursive: true, force: true }));
  const config = loadConfig({
    NODE_ENV: 'test',
    // Its log goes to this process's stdout, where result lines go: errors only.
    LOG_LEVEL: 'error',
    ADMIN_PASSWORD: 'scale-admin-password',
    RATE_LIMIT_PER_MINUTE: '1000000',
    RECONCILE_INTERVAL_SECONDS: '86400',
    AUTOSTART_MAX_ATTEMPTS: '0',
    DATA_DIR: dataDir,
    ...options.env,
  });
  let builder = Test.createTestingModule({ imports: [AppModule.forRoot(config)] });
  if (options.localPort) builder = builder.overrideProvider(VIRTUALIZATION_PORT).useValue(options.localPort);
  for (const { provide, useClass } of options.classes ?? [])
    builder = builder.overrideProvider(provide as Provider).useClass(useClass);
  const app = (await builder.compile()).createNestApplication<NestExpressApplication>({
    bodyParser: false,
    bufferLogs: true,
  });
  onCleanup('in-process app', () => app.close());
  if (!options.listen) {
    await app.init();
    return { app, base: '' };
  }
  await initApp(app);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, base: `http://127.0.0.1:${address.port}` };
}
