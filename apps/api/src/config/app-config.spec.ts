import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './app-config';

describe('loadConfig', () => {
  const dataDir = () => mkdtempSync(join(tmpdir(), 'limen-config-'));

  it('applies the documented defaults', () => {
    const config = loadConfig({ DATA_DIR: dataDir() });
    expect(config).toEqual(
      expect.objectContaining({ port: 18443, host: '127.0.0.1', registration: 'approval', databaseUrl: undefined, logLevel: 'info', corsOrigins: [], adminUsername: 'admin', nodeEnv: 'development' }),
    );
  });

  it('generates a JWT secret once and keeps it in DATA_DIR with mode 0600', () => {
    const dir = dataDir();
    const first = loadConfig({ DATA_DIR: dir });
    const second = loadConfig({ DATA_DIR: dir });
    expect(first.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(second.jwtSecret).toBe(first.jwtSecret);
    expect(readFileSync(join(dir, 'jwt-secret'), 'utf8').trim()).toBe(first.jwtSecret);
    expect(statSync(join(dir, 'jwt-secret')).mode & 0o777).toBe(0o600);
  });

  it('requires JWT_SECRET and DATABASE_URL in production', () => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), NODE_ENV: 'production', DATABASE_URL: 'postgres://a@b/c' })).toThrow(new ConfigError('JWT_SECRET is required when NODE_ENV=production'));
    expect(() => loadConfig({ DATA_DIR: dataDir(), NODE_ENV: 'production', JWT_SECRET: 'k'.repeat(32) })).toThrow(/DATABASE_URL is required/);
    const config = loadConfig({ DATA_DIR: dataDir(), NODE_ENV: 'production', JWT_SECRET: 'k'.repeat(32), DATABASE_URL: 'postgres://a@b/c' });
    expect(config.jwtSecret).toBe('k'.repeat(32));
  });

  it.each([
    [{ PORT: '70000' }, /PORT must be an integer from 0 to 65535/],
    [{ PORT: '12abc' }, /PORT/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ CORS_ORIGINS: 'https://ok.example.com,not a url' }, /CORS_ORIGINS/],
    [{ ADMIN_USERNAME: 'Bad Name!' }, /ADMIN_USERNAME/],
    [{ LOCKOUT_THRESHOLD: '0' }, /LOCKOUT_THRESHOLD/],
  ])('names the variable in the error for %j', (env, message) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), ...env })).toThrow(message);
  });

  it('parses a CORS allow-list and lower-cases the admin name', () => {
    const config = loadConfig({ DATA_DIR: dataDir(), CORS_ORIGINS: 'https://a.example.com, http://localhost:3000', ADMIN_USERNAME: 'Root' });
    expect(config.corsOrigins).toEqual(['https://a.example.com', 'http://localhost:3000']);
    expect(config.adminUsername).toBe('root');
  });
});
