import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { provideCloudImage } from './support/cloud-image';
import { virsh } from './support/hypervisor';
import { ADMIN, login, startTestApp, TestApp } from './support/test-app';

// "Reach your VM" boots the Debian cloud image and waits for SSH (up to 420 s under TCG on a busy machine).
jest.setTimeout(900_000);

const ROOT = resolve(__dirname, '..');
const GUIDE = join(ROOT, 'docs', 'api-guide.md');

/** The bodies of every ```sh runnable block, in document order. */
function runnableBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh runnable[ \t]*\n([\s\S]*?)^```[ \t]*$/gm)].map((match) => match[1]);
}

/** Relative link targets of inline Markdown links, without their #fragment. */
function relativeLinks(markdown: string): string[] {
  // Fenced code is not prose: its brackets and parentheses are not links.
  const prose = markdown.replace(/^```[\s\S]*?^```[ \t]*$/gm, '');
  return [...prose.matchAll(/\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)]
    .map((match) => match[1])
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('#'))
    .map((target) => decodeURIComponent(target.split('#')[0]))
    .filter((target) => target.length > 0);
}

function run(
  script: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn('bash', ['-euo', 'pipefail', script], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

describe('docs', () => {
  describe('the curl examples of docs/api-guide.md (e2e)', () => {
    let t: TestApp;
    let result: { code: number | null; stdout: string; stderr: string };
    let scratch: string;

    beforeAll(async () => {
      const blocks = runnableBlocks(readFileSync(GUIDE, 'utf8'));
      expect(blocks.length).toBeGreaterThan(5);
      // A port-forward range of its own, so a concurrent suite's forwards never take the same host port.
      const ports = 23000 + Math.floor(Math.random() * 50) * 100;
      t = await startTestApp({ PORT_FORWARD_RANGE: `${ports}-${ports + 99}` });
      // The guide's "Reach your VM" boots the Debian cloud image: an admin put it in IMAGE_DIR.
      provideCloudImage(t.data.sandbox.imageDir);
      const { accessToken } = await login(t.http, ADMIN.username, ADMIN.password);
      await request(t.http).post('/api/v1/images/rescan').auth(accessToken, { type: 'bearer' }).expect(200);
      await t.app.listen(0, '127.0.0.1');
      const base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
      scratch = mkdtempSync(join(tmpdir(), 'limen-docs-'));
      const script = join(scratch, 'api-guide.sh');
      writeFileSync(script, blocks.map((block, index) => `# --- block ${index + 1}\n${block}`).join('\n'));
      result = await run(
        script,
        { BASE: base, ADMIN_USER: ADMIN.username, ADMIN_PASSWORD: ADMIN.password, TMPDIR: scratch },
        780_000,
      );
    });

    afterAll(async () => {
      // Leave nothing behind on the shared libvirtd, even when the examples failed halfway.
      if (t) {
        const ids: Array<{ id: string }> = await t.app.get(DataSource).query(`SELECT id FROM vms`);
        for (const { id } of ids) {
          virsh('destroy', `limen-${id}`);
          virsh('undefine', `limen-${id}`, '--snapshots-metadata');
        }
        await t.close();
      }
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    it('run in one bash -euo pipefail process and exit 0', () => {
      if (result.code !== 0)
        throw new Error(`exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
      expect(result.code).toBe(0);
    });

    it('sign in, register, approve, and detect a reused refresh token', () => {
      expect(result.stdout).toMatch(/"status":"pending"/);
      expect(result.stdout).toContain('{"status":403,"code":"ACCOUNT_PENDING"}');
      expect(result.stdout).toMatch(/"role":"user","status":"active"/);
      expect(result.stdout).toContain('rotated: new refresh token differs: yes');
      expect(result.stdout).toContain('second tab gets the same pair: yes');
      expect(result.stdout).toContain('{"status":401,"code":"REFRESH_TOKEN_REUSED"}');
      expect(result.stdout).toContain('{"status":401,"code":"INVALID_REFRESH_TOKEN"}');
    });

    it('create a VM from tiny-guest and wait for its operation to succeed', () => {
      expect(result.stdout).toMatch(/^tiny-guest image: [0-9a-f-]{36}$/m);
      expect(result.stdout).toContain('HTTP 202');
      expect(result.stdout).toMatch(/^Location: \/api\/v1\/operations\/[0-9a-f-]{36}$/m);
      expect(result.stdout).toContain('vm.create operation: succeeded');
      expect(result.stdout).toContain('{"name":"demo-1","state":"running"');
    });

    it('page through the VMs with a cursor', () => {
      const pages = result.stdout.split('\n').filter((line) => line.startsWith('{"items":'));
      expect(pages).toHaveLength(2);
      const [first, second] = pages.map(
        (line) => JSON.parse(line) as { items: Array<{ name: string }>; nextCursor: string | null },
      );
      expect(first.items).toHaveLength(1);
      expect(first.nextCursor).toEqual(expect.any(String));
      expect(second.items).toHaveLength(1);
      expect(second.nextCursor).toBeNull();
      expect(new Set([first.items[0].name, second.items[0].name])).toEqual(new Set(['demo-1', 'demo-2']));
    });

    it('replay an action sent twice with one Idempotency-Key as the same operation', () => {
      const first = /^first: HTTP 202 operation ([0-9a-f-]{36})$/m.exec(result.stdout)?.[1];
      const replay = /^replay: HTTP 202 operation ([0-9a-f-]{36})$/m.exec(result.stdout)?.[1];
      expect(first).toBeDefined();
      expect(replay).toBe(first);
      expect(result.stdout).toContain(`idempotent replay: same operation ${first}`);
      expect(result.stdout).toContain('{"status":422,"code":"IDEMPOTENCY_KEY_REUSED"}');
      expect(result.stdout).toMatch(/\{"kind":"vm\.stop","status":"succeeded","result":\{"state":"stopped"\}\}/);
      expect(result.stdout).toContain('{"status":412,"code":"PRECONDITION_FAILED"}');
    });

    it('show a validation failure as problem+json', () => {
      expect(result.stdout).toMatch(/^content-type: application\/problem\+json/im);
      expect(result.stdout).toContain('"code": "VALIDATION_FAILED"');
      expect(result.stdout).toContain('"field": "vcpus"');
      expect(result.stdout).toContain('{"status":404,"code":"NOT_FOUND"');
      expect(result.stdout).toContain('{"status":401,"code":"UNAUTHENTICATED"}');
    });

    it('reach a VM over SSH: a key from /ssh-keys, a port forward for 22, the hostname set by cloud-init', () => {
      expect(result.stdout).toMatch(/^\{"name":"laptop","type":"ed25519","fingerprint":"SHA256:[A-Za-z0-9+/]+"\}$/m);
      expect(result.stdout).toContain('vm.create operation (demo-ssh): succeeded');
      expect(result.stdout).toMatch(
        /^\{"protocol":"tcp","guestPort":22,"hostAddress":"127\.0\.0\.1","hostPort":\d+\}$/m,
      );
      expect(result.stdout).toMatch(/^ssh debian@127\.0\.0\.1 -p \d+: hostname demo-ssh$/m);
      expect(result.stdout).toMatch(/^\{"guestAgent":"connected","os":"Debian[^"]*","addresses":\[/m);
    });

    it('read events, then only the newer ones with Last-Event-ID', () => {
      expect(result.stdout).toMatch(/^\s+\d+ event: vm\.created$/m);
      expect(result.stdout).toMatch(/^last event id: \d+$/m);
      expect(result.stdout).toContain('vm.delete operation: succeeded');
      expect(result.stdout).toMatch(/^\s+3 event: vm\.deleted$/m);
      expect(result.stdout).not.toMatch(/event types so far:[\s\S]*vm\.deleted[\s\S]*last event id/);
      expect(result.stdout).toContain('{"type":"vm.deleted","name":"demo-1"}');
      expect(result.stdout).toContain('logout-all: HTTP 204');
    });

    it('leave no VM behind', async () => {
      const [{ count }] = await t.app.get(DataSource).query(`SELECT count(*)::int AS count FROM vms`);
      expect(count).toBe(0);
    });
  });

  describe('links', () => {
    const files = [
      join(ROOT, 'README.md'),
      ...readdirSync(join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => join(ROOT, 'docs', f)),
    ];

    it.each(files.map((file) => [file.slice(ROOT.length + 1), file]))(
      'every relative link in %s points at an existing file',
      (_name, file) => {
        const broken = relativeLinks(readFileSync(file, 'utf8')).filter(
          (target) => !existsSync(resolve(dirname(file), target)),
        );
        expect(broken).toEqual([]);
      },
    );

    it('finds links at all (the checker is not vacuous)', () => {
      expect(relativeLinks('see [the guide](docs/api-guide.md#events), [site](https://x.dev) and [top](#top)')).toEqual(
        ['docs/api-guide.md'],
      );
      expect(runnableBlocks('```sh runnable\necho 1\n```\n```sh\necho 2\n```\n```sh runnable\necho 3\n```\n')).toEqual([
        'echo 1\n',
        'echo 3\n',
      ]);
    });
  });
});
