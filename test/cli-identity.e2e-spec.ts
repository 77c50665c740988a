import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import request from 'supertest';
import { CLI_MAIN, parseJson, runCli } from './support/cli-process';
import { ADMIN, createUser, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

/** A code of the step `stepsAhead` after now (the api accepts one step either side, each step once). */
const codeOf = (secret: string, stepsAhead = 0) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + stepsAhead * 30_000 });

/** `limen ARGS` in a pseudo-terminal (util-linux `script`): what it printed, and keys to type. */
function inPty(args: string[], env: Record<string, string>) {
  const command = [process.execPath, CLI_MAIN, ...args].map((a) => JSON.stringify(a)).join(' ');
  const pty = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, ...env } });
  let seen = '';
  pty.stdout.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  pty.stderr.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  return {
    exited: new Promise<number | null>((resolve) => pty.once('close', resolve)),
    seen: () => seen,
    type: (text: string) => pty.stdin.write(text),
    until: async (what: string) => {
      const end = Date.now() + 20_000;
      while (!seen.includes(what)) {
        if (Date.now() > end) throw new Error(`no ${what} within 20 s: ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/**
 * `limen` (apps/cli, built) and identity, against the real api and database (no VM): API tokens
 * created, used and revoked from the command line, TOTP sign-in (a factor enrolled through the
 * api, and one REQUIRE_2FA=admins demands at sign-in), password change and sessions.
 */
describe('limen: tokens, second factor, password, sessions (e2e)', () => {
  let t: TestApp;
  let base: string;
  const folders: string[] = [];
  let adminToken: string;

  /** A person (or a script) with a config folder of its own. */
  const person = () => {
    const config = mkdtempSync(join(tmpdir(), 'limen-cli-id-'));
    folders.push(config);
    const run = (args: string[], input?: string) =>
      runCli(['-o', 'json', ...args], { XDG_CONFIG_HOME: config, LIMEN_API_URL: base }, input);
    return {
      config,
      table: (args: string[], input?: string) => runCli(args, { XDG_CONFIG_HOME: config, LIMEN_API_URL: base }, input),
      json: async (args: string[], input?: string) => {
        const result = await run(args, input);
        return { code: result.code, body: parseJson(result) as Record<string, any>, stderr: result.stderr };
      },
    };
  };
  const stored = (config: string) =>
    JSON.parse(readFileSync(join(config, 'limen', 'credentials.json'), 'utf8')).servers[base];

  beforeAll(async () => {
    t = await startTestApp({ REQUIRE_2FA: 'admins' });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (t) await t.close();
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  it('an admin made to enrol by REQUIRE_2FA: the otpauth URI without a terminal, then login --totp confirms it', async () => {
    const admin = person();
    const password = `${ADMIN.password}\n`;
    const refused = await admin.json(['login', '-u', ADMIN.username, '--password-stdin'], password);
    expect(refused).toMatchObject({ code: 3, body: { code: 'SECOND_FACTOR_ENROLMENT_REQUIRED', exitCode: 3 } });
    expect(refused.body.otpauthUri).toMatch(/^otpauth:\/\/totp\/LIMEN:root-admin\?/);
    const secret = new URL(refused.body.otpauthUri).searchParams.get('secret') as string;

    const enrolled = await admin.json(
      ['login', '-u', ADMIN.username, '--password-stdin', '--totp', codeOf(secret)],
      password,
    );
    expect(enrolled).toMatchObject({ code: 0, body: { kind: 'session', username: ADMIN.username } });
    expect(enrolled.body.recoveryCodes).toHaveLength(10);
    expect(await admin.json(['whoami'])).toMatchObject({ code: 0, body: { role: 'admin' } });
    adminToken = stored(admin.config).accessToken;
  });

  it('token create|list|revoke: the secret works for login --token within its scopes, and not after revoke', async () => {
    const alice = person();
    const { password } = await createUser(t.http, adminToken, 'cli-alice');
    expect((await alice.json(['login', '-u', 'cli-alice', '--password-stdin'], `${password}\n`)).code).toBe(0);

    const created = await alice.json([
      'token',
      'create',
      'ci-read',
      '--scope',
      'vms:read,account:read',
      '-s',
      'tokens:read',
      '--expires-in-days',
      '30',
    ]);
    expect(created).toMatchObject({
      code: 0,
      body: { token: { name: 'ci-read', scopes: ['vms:read', 'account:read', 'tokens:read'], revokedAt: null } },
    });
    const secret: string = created.body.secret;
    expect(secret).toMatch(/^limen_pat_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(created.body.token.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    const listed = await alice.json(['token', 'list']);
    expect(listed.body).toEqual([expect.objectContaining({ id: created.body.token.id, name: 'ci-read' })]);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect((await alice.table(['token', 'list'])).stdout).toMatch(
      /^ID\s+NAME\s+SCOPES\s+STATE[^\n]*\n\S+\s+ci-read\s+/,
    );

    // A script with the token: within its scopes it works; tokens:write it lacks (403 → 3).
    const ci = person();
    expect(await ci.json(['login', '--token', secret])).toMatchObject({
      code: 0,
      body: { kind: 'token', username: 'cli-alice' },
    });
    expect(await ci.json(['whoami'])).toMatchObject({ code: 0, body: { username: 'cli-alice' } });
    expect(await ci.json(['vm', 'list'])).toMatchObject({ code: 0, body: [] });
    expect(await ci.json(['token', 'create', 'escalate', '--scope', 'vms:write'])).toMatchObject({
      code: 3,
      body: { status: 403, code: 'INSUFFICIENT_SCOPE' },
    });

    // Bad input is usage (2): an unknown scope (the api's 400), no scope, both expiries; nothing created.
    expect(await alice.json(['token', 'create', 'bad', '--scope', 'vms:fly'])).toMatchObject({
      code: 2,
      body: { status: 400 },
    });
    expect(await alice.json(['token', 'create', 'bad'])).toMatchObject({ code: 2, body: { code: 'USAGE' } });
    expect(
      await alice.json([
        'token',
        'create',
        'bad',
        '-s',
        'vms:read',
        '--expires-in-days',
        '1',
        '--expires-at',
        '2030-01-01',
      ]),
    ).toMatchObject({ code: 2, body: { code: 'USAGE' } });
    expect((await alice.json(['token', 'list'])).body).toHaveLength(1);

    // Table mode prints the secret alone on stdout (SECRET=$(limen token create …)).
    const plain = await alice.table(['token', 'create', 'second', '--scope', 'vms:read']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^limen_pat_[A-Za-z0-9_-]{43}\n$/);
    expect(plain.stderr).toContain('shown only now');

    const revoked = await alice.json(['token', 'revoke', 'ci-read']);
    expect(revoked).toMatchObject({ code: 0, body: { id: created.body.token.id, revokedAt: expect.any(String) } });
    expect(await ci.json(['whoami'])).toMatchObject({ code: 3, body: { status: 401, exitCode: 3 } });
    expect(await alice.json(['token', 'revoke', 'ci-read'])).toMatchObject({ code: 4, body: { code: 'NOT_FOUND' } });
    expect(await alice.json(['token', 'revoke', '00000000-0000-4000-8000-000000000000'])).toMatchObject({
      code: 4,
      body: { status: 404 },
    });
  });

  it('login with TOTP: --totp once (a replay is refused), a recovery code, and no terminal to ask on', async () => {
    const bob = person();
    const user = await createUser(t.http, adminToken, 'cli-bob');
    const enrolled = await request(t.http)
      .post('/api/v1/auth/totp')
      .auth(user.accessToken, { type: 'bearer' })
      .expect(200);
    const secret: string = enrolled.body.secret;
    const confirmed = await request(t.http)
      .post('/api/v1/auth/totp/confirm')
      .auth(user.accessToken, { type: 'bearer' })
      .send({ code: codeOf(secret) })
      .expect(200);
    const password = `${user.password}\n`;
    const args = ['login', '-u', 'cli-bob', '--password-stdin'];

    expect(await bob.json(args, password)).toMatchObject({ code: 2, body: { code: 'USAGE' } });
    // The confirming code used this step: the next one is a later step, accepted once.
    const code = codeOf(secret, 1);
    expect(await bob.json([...args, '--totp', code], password)).toMatchObject({ code: 0, body: { kind: 'session' } });
    expect(await bob.json(['whoami'])).toMatchObject({ code: 0, body: { username: 'cli-bob' } });
    expect(await bob.json([...args, '--totp', code], password)).toMatchObject({
      code: 3,
      body: { status: 401, code: 'INVALID_SECOND_FACTOR' },
    });
    const recovery = ['--recovery-code', confirmed.body.recoveryCodes[0]];
    expect(await bob.json([...args, ...recovery], password)).toMatchObject({ code: 0 });
    expect(await bob.json([...args, ...recovery], password)).toMatchObject({ code: 3, body: { status: 401 } });
    expect(await bob.json([...args, '--totp', '123456', ...recovery], password)).toMatchObject({ code: 2 });

    // On a terminal it asks: the password (not echoed), then the code (here a recovery code).
    const pty = inPty(['login', '-u', 'cli-bob'], { XDG_CONFIG_HOME: bob.config, LIMEN_API_URL: base });
    await pty.until('Password: ');
    pty.type(`${user.password}\r`);
    await pty.until('(or a recovery code): ');
    pty.type(`${confirmed.body.recoveryCodes[1]}\r`);
    expect(await pty.exited).toBe(0);
    expect(pty.seen()).toContain('Logged in to');
    expect(pty.seen()).not.toContain(user.password);
  });

  it('an enrolment REQUIRE_2FA demands, on a terminal: the otpauth URI, a code from it, the recovery codes', async () => {
    const password = 'dana-password-123';
    await request(t.http)
      .post('/api/v1/users')
      .auth(adminToken, { type: 'bearer' })
      .send({ username: 'cli-dana', password, role: 'admin' })
      .expect(201);
    const dana = person();
    const pty = inPty(['login', '-u', 'cli-dana'], { XDG_CONFIG_HOME: dana.config, LIMEN_API_URL: base });
    await pty.until('Password: ');
    pty.type(`${password}\r`);
    await pty.until('Code from the app: ');
    const secret = /otpauth:\/\/totp\/LIMEN:cli-dana\?\S*secret=([A-Z2-7]+)/.exec(pty.seen())?.[1] as string;
    expect(secret).toBeDefined();
    pty.type(`${codeOf(secret)}\r`);
    expect(await pty.exited).toBe(0);
    expect(pty.seen()).toMatch(/recovery codes[^\n]*\n(\s+[a-z0-9]{5}-[a-z0-9]{5}\r?\n){10}/);
    expect(await dana.json(['whoami'])).toMatchObject({ code: 0, body: { username: 'cli-dana', role: 'admin' } });
  });

  it('password changes the password and keeps this session; session list|revoke', async () => {
    const carol = person();
    const user = await createUser(t.http, adminToken, 'cli-carol');
    expect((await carol.json(['login', '-u', 'cli-carol', '--password-stdin'], `${user.password}\n`)).code).toBe(0);
    const before = await carol.json(['session', 'list']);
    expect(before.code).toBe(0);
    expect(before.body).toEqual(expect.arrayContaining([expect.objectContaining({ current: true })]));
    expect(before.body).toHaveLength(2); // createUser's own sign-in, and the command line's

    expect(await carol.json(['password', '--password-stdin'], 'not-the-password\nnew-password-456\n')).toMatchObject({
      code: 3,
      body: { code: 'INVALID_CREDENTIALS' },
    });
    expect(await carol.json(['password', '--password-stdin'], `${user.password}\nnew-password-456\n`)).toMatchObject({
      code: 0,
      body: { changed: true },
    });
    // The fresh session was stored: commands go on; the other sign-in is over, the old password too.
    const after = await carol.json(['session', 'list']);
    expect(after.body).toEqual([
      expect.objectContaining({ current: true, userAgent: expect.stringMatching(/^limen-cli\//) }),
    ]);
    const other = person();
    expect(await other.json(['login', '-u', 'cli-carol', '--password-stdin'], `${user.password}\n`)).toMatchObject({
      code: 3,
      body: { code: 'INVALID_CREDENTIALS' },
    });
    expect((await other.json(['login', '-u', 'cli-carol', '--password-stdin'], 'new-password-456\n')).code).toBe(0);
    const otherSession = (await other.json(['session', 'list'])).body.find((s: { current: boolean }) => s.current);
    expect(await carol.json(['session', 'revoke', otherSession.id])).toMatchObject({
      code: 0,
      body: { revoked: true },
    });
    expect(await carol.json(['session', 'revoke', otherSession.id])).toMatchObject({ code: 4, body: { status: 404 } });
    expect((await carol.json(['session', 'list'])).body).toHaveLength(1);
  });
});
