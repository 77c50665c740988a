import type { AddressInfo } from 'node:net';
import { AgentConfig, ConfigError, loadAgentConfig } from './config/agent-config';
import { createAgentServer } from './http/agent-server';
import { BearerTokenVerifier } from './http/bearer-token';
import { createLogger } from './logger';
import { SystemHostSampler } from './metrics/host-sampler';
import { MetricsSnapshot } from './metrics/metrics-snapshot';
import { SampleCache } from './metrics/sample-cache';

function loadConfigOrExit(): AgentConfig {
  try {
    return loadAgentConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`LIMEN agent configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

async function serve(config: AgentConfig): Promise<void> {
  const logger = createLogger(config);
  if (config.tokenGenerated)
    logger.warn({ tokenFile: config.tokenFile }, 'AGENT_TOKEN not set: generated one and stored it in the token file');
  else if (config.tokenFile) logger.info({ tokenFile: config.tokenFile }, 'AGENT_TOKEN not set: using the token file');

  const sampler = new SystemHostSampler();
  // Before listening, so the first scrape already gets CPU load and rates over a real interval.
  await sampler.prime();
  const cache = new SampleCache<MetricsSnapshot>(async () => new MetricsSnapshot(await sampler.sample()), {
    ttlMs: config.sampleTtlMs,
    timeoutMs: config.sampleTimeoutMs,
  });
  const server = createAgentServer({
    snapshot: () => cache.get(),
    verifier: new BearerTokenVerifier(config.token),
    logger,
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });

  // Stop accepting, let in-flight scrapes finish (idle keep-alive sockets are closed at once),
  // then exit 0; the timer bounds a scrape that never ends.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down');
      setTimeout(() => process.exit(1), config.shutdownTimeoutMs).unref();
      server.close(() => process.exit(0));
      server.closeIdleConnections();
    });
  }
  // The bound port, which differs from the configured one when AGENT_PORT=0 picks a free port.
  const { port } = server.address() as AddressInfo;
  const base = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url: base }, `LIMEN agent listening on ${base}`);
}

const config = loadConfigOrExit();
serve(config).catch((error: Error) => {
  process.stderr.write(`LIMEN agent failed to start: ${error.message}\n`);
  process.exit(1);
});
