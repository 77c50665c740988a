import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadAgentConfig } from './agent-config';

describe('loadAgentConfig', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'limen-agent-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('defaults to loopback on port 9000 with a 2 s sample TTL', () => {
    const config = loadAgentConfig({ AGENT_TOKEN: 'x'.repeat(32) });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 9000,
      logLevel: 'info',
      sampleTtlMs: 2000,
      token: 'x'.repeat(32),
      tokenGenerated: false,
    });
    expect(config.tokenFile).toBeUndefined();
  });

  it('requires AGENT_TOKEN in production', () => {
    expect(() => loadAgentConfig({ NODE_ENV: 'production', DATA_DIR: dir })).toThrow(
      new ConfigError('AGENT_TOKEN is required when NODE_ENV=production'),
    );
  });

  it('generates a token once in development, mode 0600, in AGENT_DATA_DIR over DATA_DIR', () => {
    const agentDir = join(dir, 'agent');
    const first = loadAgentConfig({ AGENT_DATA_DIR: agentDir, DATA_DIR: dir });
    expect(first.tokenGenerated).toBe(true);
    expect(first.tokenFile).toBe(join(agentDir, 'agent-token'));
    expect(statSync(first.tokenFile!).mode & 0o777).toBe(0o600);
    expect(readFileSync(first.tokenFile!, 'utf8').trim()).toBe(first.token);
    expect(first.token.length).toBeGreaterThanOrEqual(32);

    const second = loadAgentConfig({ AGENT_DATA_DIR: agentDir, DATA_DIR: dir });
    expect(second).toMatchObject({ token: first.token, tokenGenerated: false });
    expect(loadAgentConfig({ DATA_DIR: dir }).tokenFile).toBe(join(dir, 'agent-token'));
  });

  it('refuses a token file that others can read', () => {
    const file = join(dir, 'agent-token');
    writeFileSync(file, 'y'.repeat(32));
    chmodSync(file, 0o644);
    expect(() => loadAgentConfig({ DATA_DIR: dir })).toThrow(/must not be readable by group or others/);
  });

  it.each([
    [{ AGENT_PORT: 'ninety' }, /AGENT_PORT must be an integer from 0 to 65535/],
    [{ AGENT_PORT: '70000' }, /AGENT_PORT must be an integer/],
    [{ AGENT_HOST: 'not a host' }, /AGENT_HOST must be an IP address or a host name/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ NODE_ENV: 'staging' }, /NODE_ENV must be one of development\|production\|test/],
    [{ AGENT_TOKEN: 'short' }, /AGENT_TOKEN must be at least 16 characters/],
    [{ AGENT_TOKEN: 'has a space in it somewhere' }, /AGENT_TOKEN must be printable ASCII without spaces/],
    [{ AGENT_SAMPLE_TTL_MS: '-1' }, /AGENT_SAMPLE_TTL_MS must be an integer/],
  ])('rejects %j', (env, message) => {
    expect(() => loadAgentConfig({ DATA_DIR: dir, ...env })).toThrow(message);
  });

  it('accepts an explicit host and port', () => {
    expect(loadAgentConfig({ AGENT_TOKEN: 'z'.repeat(16), AGENT_HOST: '0.0.0.0', AGENT_PORT: '9100' })).toMatchObject({
      host: '0.0.0.0',
      port: 9100,
    });
  });
});
