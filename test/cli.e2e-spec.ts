import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { CLI_MAIN, parseJson, runCli } from './support/cli-process';
import { GUEST_MARKER, KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(300_000);

/**
 * The `limen` command line (apps/cli, built) against the real api, database and hypervisor:
 * login, a VM from the tiny guest, its serial console in a pseudo-terminal (util-linux `script`),
 * snapshots, delete; every command also with --output json, and the documented exit codes.
 */
describe('limen, the command line (e2e, real guest)', () => {
  let t: TestApp;
  let base: string;
  let config: string;
  let password: string;
  const env = () => ({ XDG_CONFIG_HOME: config, LIMEN_API_URL: base });
  const limen = (args: string[], input?: string) => runCli(args, env(), input);
  /** `limen -o json ARGS`: its exit code and the JSON it printed (which must parse). */
  const json = async (args: string[], input?: string) => {
    const result = await limen(['-o', 'json', ...args], input);
    return { code: result.code, body: parseJson(result) as Record<string, any>, stderr: result.stderr };
  };

  beforeAll(async () => {
    config = mkdtempSync(join(tmpdir(), 'limen-cli-e2e-'));
    t = await startTestApp({ DEFAULT_QUOTA_VMS: '3' });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    password = (await createUser(t.http, admin.accessToken, 'cli-user')).password;
  });

  afterAll(async () => {
    if (t) {
      for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
        virsh('destroy', `limen-${id}`);
        virsh('undefine', `limen-${id}`, '--snapshots-metadata');
      }
      await t.close();
    }
    rmSync(config, { recursive: true, force: true });
  });

  it('refuses before login (3), bad usage (2) and an unreachable api (7), with a JSON problem each time', async () => {
    expect(await json(['vm', 'list'])).toMatchObject({ code: 3, body: { code: 'NOT_LOGGED_IN', exitCode: 3 } });
    expect(await json(['vm', 'frobnicate'])).toMatchObject({ code: 2, body: { code: 'USAGE', exitCode: 2 } });
    expect(await json(['--api', 'ftp://x', 'vm', 'list'])).toMatchObject({ code: 2, body: { code: 'USAGE' } });
    expect(await json(['login', '-u', 'cli-user', '--password-stdin'], 'wrong-password\n')).toMatchObject({
      code: 3,
      body: { status: 401, code: 'INVALID_CREDENTIALS', exitCode: 3 },
    });
    const unreachable = await runCli(
      ['-o', 'json', 'login', '-u', 'x', '--password-stdin'],
      {
        XDG_CONFIG_HOME: config,
        LIMEN_API_URL: 'http://127.0.0.1:9',
      },
      'p\n',
    );
    expect({ code: unreachable.code, body: parseJson(unreachable) }).toMatchObject({
      code: 7,
      body: { code: 'API_UNREACHABLE' },
    });
    const plain = await limen(['vm', 'list']);
    expect(plain).toMatchObject({ code: 3, stdout: '' });
    expect(plain.stderr).toContain('limen login');
  });

  it('logs in, creates a VM from the tiny guest, reads its serial console in a pty, snapshots and deletes it', async () => {
    const signedIn = await json(['login', '-u', 'cli-user', '--password-stdin'], `${password}\n`);
    expect(signedIn).toMatchObject({ code: 0, body: { api: base, kind: 'session', username: 'cli-user' } });
    expect(statSync(join(config, 'limen', 'credentials.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(config, 'limen')).mode & 0o777).toBe(0o700);
    expect(await json(['whoami'])).toMatchObject({ code: 0, body: { username: 'cli-user', role: 'user' } });

    const images = await json(['image', 'list']);
    expect(images.code).toBe(0);
    expect(images.body).toEqual(expect.arrayContaining([expect.objectContaining({ name: KERNEL_IMAGE_NAME })]));

    const created = await json([
      'vm',
      'create',
      'cli-vm',
      '--image',
      KERNEL_IMAGE_NAME,
      '--memory',
      '128',
      '--disk',
      '1',
    ]);
    expect(created).toMatchObject({
      code: 0,
      body: { vm: { name: 'cli-vm', state: 'running' }, operation: { kind: 'vm.create', status: 'succeeded' } },
    });
    const vmId: string = created.body.vm.id;
    expect((await json(['vm', 'list'])).body).toEqual([expect.objectContaining({ id: vmId, state: 'running' })]);
    expect(await json(['vm', 'show', 'cli-vm'])).toMatchObject({ code: 0, body: { id: vmId, name: 'cli-vm' } });
    const table = await limen(['vm', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATE/);
    expect(table.stdout).toContain('cli-vm');

    // A taken name is a conflict (5); an unknown VM is not found (4); a bad number is usage (2).
    expect(
      await json(['vm', 'create', 'cli-vm', '--image', KERNEL_IMAGE_NAME, '--memory', '128', '--disk', '1']),
    ).toMatchObject({
      code: 5,
      body: { status: 409, exitCode: 5 },
    });
    expect(await json(['vm', 'show', 'no-such-vm'])).toMatchObject({
      code: 4,
      body: { code: 'NOT_FOUND', exitCode: 4 },
    });
    expect(await json(['vm', 'show', '00000000-0000-4000-8000-000000000000'])).toMatchObject({
      code: 4,
      body: { status: 404 },
    });
    expect(await json(['vm', 'create', 'x', '--image', KERNEL_IMAGE_NAME, '--memory', 'lots'])).toMatchObject({
      code: 2,
      body: { code: 'USAGE' },
    });
    expect(await json(['vm', 'start', 'cli-vm'])).toMatchObject({
      code: 5,
      body: { code: 'INVALID_STATE', exitCode: 5 },
    });

    await consoleJourney(vmId);

    const snapshot = await json(['snapshot', 'create', 'cli-vm', 'before-delete']);
    expect(snapshot).toMatchObject({ code: 0, body: { operation: { status: 'succeeded' } } });
    expect((await json(['snapshot', 'list', 'cli-vm'])).body).toEqual([
      expect.objectContaining({ name: 'before-delete' }),
    ]);
    expect(await json(['snapshot', 'delete', 'cli-vm', 'before-delete'])).toMatchObject({ code: 0 });

    const deleted = await json(['vm', 'delete', 'cli-vm']);
    expect(deleted).toMatchObject({
      code: 0,
      body: { vm: { id: vmId }, operation: { kind: 'vm.delete', status: 'succeeded' } },
    });
    expect(await json(['vm', 'show', vmId])).toMatchObject({ code: 4 });
    expect(await json(['vm', 'list'])).toEqual({ code: 0, body: [], stderr: '' });

    expect(await json(['logout'])).toMatchObject({ code: 0, body: { username: 'cli-user' } });
    expect(await json(['vm', 'list'])).toMatchObject({ code: 3 });
  });

  /** `limen vm console` in a pseudo-terminal: a reset's boot output arrives live, and Ctrl-] detaches with 0. */
  async function consoleJourney(vmId: string) {
    const api = request(t.http);
    const token = (await login(t.http, 'cli-user', password)).accessToken;
    const deadline = Date.now() + 90_000;
    while (!(await api.get(`/api/v1/vms/${vmId}/serial`).auth(token, { type: 'bearer' })).text.includes(GUEST_MARKER)) {
      if (Date.now() > deadline) throw new Error('the guest printed no boot marker within 90 s');
      await new Promise((r) => setTimeout(r, 500));
    }
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI_MAIN)} vm console cli-vm`;
    const pty = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, ...env() } });
    let seen = '';
    pty.stdout.on('data', (chunk: Buffer) => (seen += chunk.toString('latin1')));
    pty.stderr.on('data', (chunk: Buffer) => (seen += chunk.toString('latin1')));
    const exited = new Promise<number | null>((resolve) => pty.once('close', resolve));
    const until = async (what: string, timeoutMs: number) => {
      const end = Date.now() + timeoutMs;
      while (!seen.includes(what)) {
        if (Date.now() > end)
          throw new Error(`no ${what} in the console within ${timeoutMs} ms: ${JSON.stringify(seen.slice(-500))}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    try {
      await until('Escape character is ^]', 20_000);
      const before = seen.length;
      // QEMU notices a newly opened pty within about a second; the reset comes after that.
      await new Promise((r) => setTimeout(r, 2000));
      expect(await json(['vm', 'reset', 'cli-vm'])).toMatchObject({
        code: 0,
        body: { operation: { status: 'succeeded' } },
      });
      await until(GUEST_MARKER, 90_000);
      expect(seen.slice(before)).toContain(GUEST_MARKER);
      pty.stdin.write(Buffer.from([0x1d]));
      expect(await exited).toBe(0);
      expect(seen).toContain('Disconnected from cli-vm');
    } finally {
      pty.kill();
    }
  }
});
