/**
 * The framework's ceiling for bench/read-throughput.bench.ts: a minimal Nest app on the same
 * @nestjs/platform-express that answers GET /api/v1/vms with a captured response body held in
 * memory (Nest serializes it per request, as the api does). No guards, no interceptors, no
 * pipes, no database. Started as a child process:
 *
 *   npx ts-node --transpile-only bench/lib/minimal-nest.ts <body.json> <port>
 *
 * Prints `listening <port>` on stdout when ready. Nest 12 packages are ESM; Node 20.20 can
 * require() them, and ts-node --transpile-only emits CommonJS, so this runs as is.
 */
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync } from 'node:fs';

const body: unknown = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const port = Number(process.argv[3]);

@Controller('api/v1/vms')
class VmsController {
  @Get()
  list(): unknown {
    return body;
  }
}

@Module({ controllers: [VmsController] })
class MinimalModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(MinimalModule, { logger: false });
  app.enableShutdownHooks();
  await app.listen(port, '127.0.0.1');
  process.stdout.write(`listening ${port}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
