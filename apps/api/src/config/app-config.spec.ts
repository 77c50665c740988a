import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './app-config';

describe('loadConfig', () => {
  const dataDir = () => mkdtempSync(join(tmpdir(), 'limen-config-'));

  it('applies the documented defaults', () => {
    const config = loadConfig({ DATA_DIR: dataDir() });
    expect(config).toEqual(
      expect.objectContaining({
        port: 18443,
        host: '127.0.0.1',
        registration: 'approval',
        databaseUrl: undefined,
        logLevel: 'info',
        corsOrigins: [],
        adminUsername: 'admin',
        nodeEnv: 'development',
      }),
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
    expect(() => loadConfig({ DATA_DIR: dataDir(), NODE_ENV: 'production', DATABASE_URL: 'postgres://a@b/c' })).toThrow(
      new ConfigError('JWT_SECRET is required when NODE_ENV=production'),
    );
    expect(() => loadConfig({ DATA_DIR: dataDir(), NODE_ENV: 'production', JWT_SECRET: 'k'.repeat(32) })).toThrow(
      /DATABASE_URL is required/,
    );
    const config = loadConfig({
      DATA_DIR: dataDir(),
      NODE_ENV: 'production',
      JWT_SECRET: 'k'.repeat(32),
      DATABASE_URL: 'postgres://a@b/c',
    });
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
    const config = loadConfig({
      DATA_DIR: dataDir(),
      CORS_ORIGINS: 'https://a.example.com, http://localhost:3000',
      ADMIN_USERNAME: 'Root',
    });
    expect(config.corsOrigins).toEqual(['https://a.example.com', 'http://localhost:3000']);
    expect(config.adminUsername).toBe('root');
  });

  it('configures the agent client and alerting, with the agent token file outside production only', () => {
    const dir = dataDir();
    const config = loadConfig({ DATA_DIR: dir });
    expect(config.agent).toEqual({ url: 'http://127.0.0.1:9000', tokenFile: join(dir, 'agent-token') });
    expect(config.alerting).toEqual(
      expect.objectContaining({ evalIntervalSeconds: 30, webhookTimeoutMs: 5000, smtpUrl: undefined }),
    );
    const given = loadConfig({
      DATA_DIR: dir,
      AGENT_URL: 'https://agent.internal:9443/',
      AGENT_TOKEN: 't'.repeat(16),
      SMTP_URL: 'smtp://u:p@mail.example.com:587',
      ALERT_EMAIL_FROM: 'LIMEN <alerts@example.com>',
    });
    expect(given.agent).toEqual({ url: 'https://agent.internal:9443', token: 't'.repeat(16) });
    expect(given.alerting).toEqual(
      expect.objectContaining({ smtpUrl: 'smtp://u:p@mail.example.com:587', emailFrom: 'LIMEN <alerts@example.com>' }),
    );
    const production = loadConfig({
      DATA_DIR: dir,
      NODE_ENV: 'production',
      JWT_SECRET: 'k'.repeat(32),
      DATABASE_URL: 'postgres://a@b/c',
    });
    expect(production.agent).toEqual({ url: 'http://127.0.0.1:9000' });
  });

  it.each([
    [{ AGENT_URL: 'file:///etc/passwd' }, /AGENT_URL must be an http/],
    [{ AGENT_URL: 'http://user:secret@agent:9000' }, /AGENT_URL must be an http/],
    [{ AGENT_TOKEN: 'short' }, /AGENT_TOKEN must be at least 16 characters/],
    [{ METRICS_TOKEN: 'has a space in it!' }, /METRICS_TOKEN/],
    [{ ALERT_EVAL_INTERVAL_SECONDS: '0' }, /ALERT_EVAL_INTERVAL_SECONDS must be an integer/],
    [{ WEBHOOK_TIMEOUT_MS: 'soon' }, /WEBHOOK_TIMEOUT_MS/],
    [{ SMTP_URL: 'http://mail.example.com' }, /SMTP_URL must be an smtp/],
    [{ ALERT_EMAIL_FROM: 'nobody' }, /ALERT_EMAIL_FROM/],
  ])('names the alerting or agent variable in the error for %j', (env, message) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), ...env })).toThrow(message);
  });

  it('reads the autostart backoff and attempt limit (0 turns the autostart sweep off), within bounds', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).autostart).toEqual({ backoffSeconds: 30, maxAttempts: 5 });
    expect(
      loadConfig({ DATA_DIR: dataDir(), AUTOSTART_BACKOFF_SECONDS: '2', AUTOSTART_MAX_ATTEMPTS: '0' }).autostart,
    ).toEqual({ backoffSeconds: 2, maxAttempts: 0 });
    expect(() => loadConfig({ DATA_DIR: dataDir(), AUTOSTART_BACKOFF_SECONDS: '0' })).toThrow(
      /AUTOSTART_BACKOFF_SECONDS must be an integer/,
    );
    expect(() => loadConfig({ DATA_DIR: dataDir(), AUTOSTART_MAX_ATTEMPTS: '-1' })).toThrow(/AUTOSTART_MAX_ATTEMPTS/);
  });

  it('grows the heap to twice its live size by default; 0 leaves it to V8; a word is refused', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).heapGrowingPercent).toBe(100);
    expect(loadConfig({ DATA_DIR: dataDir(), HEAP_GROWING_PERCENT: '0' }).heapGrowingPercent).toBe(0);
    expect(() => loadConfig({ DATA_DIR: dataDir(), HEAP_GROWING_PERCENT: 'lots' })).toThrow(/HEAP_GROWING_PERCENT/);
  });

  it.each([
    'qemu+ssh://root@127.0.0.1/system?command=/bin/sh',
    'qemu:///system?socket=/tmp/other.sock',
    'qemu+ssh://root@127.0.0.1/system?%63ommand=/bin/sh',
    'qemu+ssh://h/system?keyfile=/root/.ssh/id_rsa',
  ])('security 11.2: refuses LIBVIRT_URI %s, whose query names a program or a file', (uri) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), LIBVIRT_URI: uri })).toThrow(/^LIBVIRT_URI /);
  });

  it('takes the supported libvirt URI forms', () => {
    expect(
      loadConfig({ DATA_DIR: dataDir(), LIBVIRT_URI: 'qemu+ssh://limen@hv-2:2222/system?no_tty=1' }).hypervisor
        .libvirtUri,
    ).toBe('qemu+ssh://limen@hv-2:2222/system?no_tty=1');
  });

  it('never echoes an SMTP password in its error', () => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), SMTP_URL: 'smtx://user:hunter2@mail' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
  });
});

describe('TRUST_PROXY', () => {
  const dataDir = () => mkdtempSync(join(tmpdir(), 'limen-config-'));
  it('trusts no proxy by default, and takes hop counts and address lists', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).trustProxy).toBe(false);
    expect(loadConfig({ DATA_DIR: dataDir(), TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ DATA_DIR: dataDir(), TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toBe(
      'loopback, 10.0.0.0/8',
    );
    expect(() => loadConfig({ DATA_DIR: dataDir(), TRUST_PROXY: 'everyone; rm -rf /' })).toThrow(/TRUST_PROXY/);
  });
});

describe('PORT_FORWARD_RANGE and PORT_FORWARD_ADDRESS', () => {
  const dataDir = () => mkdtempSync(join(tmpdir(), 'limen-config-'));
  it('default to 20000-20999 on 127.0.0.1', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).portForwards).toEqual({ from: 20000, to: 20999, address: '127.0.0.1' });
  });

  it('take a range of unprivileged ports and an IPv4 address', () => {
    const config = loadConfig({
      DATA_DIR: dataDir(),
      PORT_FORWARD_RANGE: '40000-40000',
      PORT_FORWARD_ADDRESS: '0.0.0.0',
    });
    expect(config.portForwards).toEqual({ from: 40000, to: 40000, address: '0.0.0.0' });
  });

  it.each(['80-90', '30000-20000', '20000-70000', '20000', 'a-b', '20000-20999;x'])('refuse the range %s', (range) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), PORT_FORWARD_RANGE: range })).toThrow(/^PORT_FORWARD_RANGE must be/);
  });

  it.each(['localhost', '::1', '127.0.0.256', '127.0.0.1:22'])('refuse the address %s', (address) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), PORT_FORWARD_ADDRESS: address })).toThrow(
      /^PORT_FORWARD_ADDRESS must be an IPv4 address/,
    );
  });
});

describe('STORAGE_ROOTS', () => {
  const dataDir = () => mkdtempSync(join(tmpdir(), 'limen-config-'));
  it('defaults to /var/lib/limen, and takes a comma list of absolute folders, normalised and once each', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).hypervisor.storageRoots).toEqual(['/var/lib/limen']);
    expect(
      loadConfig({ DATA_DIR: dataDir(), STORAGE_ROOTS: ' /srv/limen/, /data/pools ,/srv/limen' }).hypervisor
        .storageRoots,
    ).toEqual(['/srv/limen', '/data/pools']);
  });

  it.each(['relative/pools', '/', '//', '/srv/../etc', '/srv/./x', '/srv/lim en', "/srv/<pool'>", ','])(
    'refuses %j',
    (roots) => {
      expect(() => loadConfig({ DATA_DIR: dataDir(), STORAGE_ROOTS: roots })).toThrow(/^STORAGE_ROOTS /);
    },
  );
});

describe('STORAGE_POOL_PREFIX', () => {
  const dataDir = () => mkdtempSync(join(tmpdir(), 'limen-config-'));
  it('names the VM and image pools, limen-vms and limen-images by default', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).hypervisor).toMatchObject({
      vmPool: 'limen-vms',
      imagePool: 'limen-images',
    });
    expect(loadConfig({ DATA_DIR: dataDir(), STORAGE_POOL_PREFIX: 'limen-e2e1' }).hypervisor).toMatchObject({
      vmPool: 'limen-e2e1-vms',
      imagePool: 'limen-e2e1-images',
    });
  });

  it.each(['other', 'limen-', 'limen-A', "limen-a'b", `limen-${'a'.repeat(25)}`])('refuses %j', (prefix) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), STORAGE_POOL_PREFIX: prefix })).toThrow(/^STORAGE_POOL_PREFIX /);
  });
});

describe('OIDC settings', () => {
  const dataDir = () => mkdtempSync(join(tmpdir(), 'limen-config-'));
  const oidc = (env: Record<string, string>) =>
    loadConfig({ DATA_DIR: dataDir(), OIDC_CLIENT_ID: 'limen', ...env }).identity.oidc;

  it('is off without OIDC_ISSUER', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).identity.oidc).toBeUndefined();
  });

  it('keeps the issuer exactly as written, a trailing slash included (issuers compare exactly)', () => {
    expect(oidc({ OIDC_ISSUER: 'https://auth.example.com/application/o/limen/' })?.issuer).toBe(
      'https://auth.example.com/application/o/limen/',
    );
    expect(oidc({ OIDC_ISSUER: 'https://kc.example.com/realms/main' })?.issuer).toBe(
      'https://kc.example.com/realms/main',
    );
  });

  it('defaults the redirect URI to PUBLIC_URL (or the local port) and always asks for openid', () => {
    expect(oidc({ OIDC_ISSUER: 'https://idp.example.com', PORT: '8080' })).toEqual({
      issuer: 'https://idp.example.com',
      clientId: 'limen',
      clientSecret: undefined,
      redirectUri: 'http://127.0.0.1:8080/api/v1/auth/oidc/callback',
      adminGroup: undefined,
      scopes: 'openid profile email groups',
    });
    expect(
      oidc({
        OIDC_ISSUER: 'https://idp.example.com',
        PUBLIC_URL: 'https://limen.example.com/',
        OIDC_SCOPES: 'profile  groups',
        OIDC_ADMIN_GROUP: 'limen-admins',
        OIDC_CLIENT_SECRET: 's3cret',
      }),
    ).toMatchObject({
      redirectUri: 'https://limen.example.com/api/v1/auth/oidc/callback',
      scopes: 'openid profile groups',
      adminGroup: 'limen-admins',
      clientSecret: 's3cret',
    });
  });

  it('needs a client id', () => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), OIDC_ISSUER: 'https://idp.example.com' })).toThrow(
      'OIDC_CLIENT_ID is required when OIDC_ISSUER is set',
    );
  });

  it('accepts plain http only on a loopback address', () => {
    expect(oidc({ OIDC_ISSUER: 'http://127.0.0.1:9999' })?.issuer).toBe('http://127.0.0.1:9999');
    expect(oidc({ OIDC_ISSUER: 'http://localhost:9999/realms/x' })?.issuer).toBe('http://localhost:9999/realms/x');
  });

  it.each([
    'http://idp.example.com',
    'ftp://idp.example.com',
    'not a url',
    'https://idp.example.com/?tenant=1',
    'https://idp.example.com/#x',
    'https://user:pw@idp.example.com',
  ])('refuses the issuer %j', (issuer) => {
    expect(() => oidc({ OIDC_ISSUER: issuer })).toThrow(/^OIDC_ISSUER must be/);
  });

  it('refuses a scope list with a quote or backslash', () => {
    expect(() => oidc({ OIDC_ISSUER: 'https://idp.example.com', OIDC_SCOPES: 'openid "x"' })).toThrow(/^OIDC_SCOPES/);
  });
});
