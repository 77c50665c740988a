import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { Server } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { initApp } from './app.setup';
import { AppConfig, ConfigError, loadConfig } from './config/app-config';
import { migrate } from './database/migrate';

function loadConfigOrExit(): AppConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`LIMEN configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

async function serve(config: AppConfig): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bufferLogs: true,
    bodyParser: false,
  });
  await initApp(app);
  await app.listen(config.port, config.host);
  // app.close() stops accepting, drains in-flight requests and runs the shutdown
  // hooks (database, embedded PostgreSQL); the timer bounds how long that may take.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => process.exit(1), config.shutdownTimeoutMs).unref();
      // close() ends the connections idle now; one that answers its last request later would be
      // kept alive for KEEP_ALIVE_TIMEOUT_SECONDS and hold the exit: each is closed once idle.
      const server = app.getHttpServer() as Server;
      setInterval(() => server.closeIdleConnections(), 100).unref();
      app.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
  const base = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  process.stdout.write(`LIMEN api listening on ${base} (docs: ${base}/docs, health: ${base}/health/ready)\n`);
}

const config = loadConfigOrExit();
// Read by V8 at each full collection, so setting it now (not as a node flag) takes effect.
if (config.heapGrowingPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`);
(process.argv[2] === 'migrate' ? migrate(config) : serve(config)).catch((error: Error) => {
  process.stderr.write(`LIMEN failed to start: ${error.message}\n`);
  process.exit(1);
});
