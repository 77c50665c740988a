import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, Browser } from 'playwright-core';
import { PNG } from 'pngjs';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WebSocket } from 'ws';
import { GUEST_MARKER, KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(240_000);

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SESSION_LIMIT = 2;
const IDLE_SECONDS = 4;

interface Refusal {
  status: number;
  body: { code?: string; status?: number; detail?: string };
}

/** A console WebSocket that buffers what it receives, so nothing sent before a waiter is lost. */
class ConsoleClient {
  readonly received: Buffer[] = [];
  closed: { code: number; reason: string } | null = null;
  private readonly listeners = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.received.push(Buffer.from(data));
      this.listeners.forEach((l) => l());
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.listeners.forEach((l) => l());
    });
  }

  text(): string {
    return Buffer.concat(this.received).toString('latin1');
  }

  /** Resolves once `done` holds over what was received; rejects on timeout or close. */
  waitFor(what: string, done: (text: string) => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (done(this.text())) return finish();
        if (this.closed)
          finish(
            new Error(
              `socket closed (${this.closed.code} ${this.closed.reason}) before ${what}; got ${JSON.stringify(this.text().slice(-300))}`,
            ),
          );
      };
      const timer = setTimeout(
        () => finish(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.text().slice(-300))}`)),
        timeoutMs,
      );
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (error) reject(error);
        else resolve();
      };
      this.listeners.add(check);
      check();
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

describe('Consoles (e2e, real guest)', () => {
  let t: TestApp;
  let base: string;
  let admin: { accessToken: string };
  let alice: { id: string; accessToken: string };
  let bob: { id: string; accessToken: string };
  let vmA: string;
  let vmB: string;
  let browser: Browser | undefined;
  let scratch: string;
  const tickets: string[] = [];
  const post = (token: string, path: string) => request(t.http).post(path).auth(token, { type: 'bearer' });
  const get = (token: string, path: string) => request(t.http).get(path).auth(token, { type: 'bearer' });
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

  async function waitOp(token: string, location: string): Promise<{ status: string }> {
    return (await get(token, `${location}/wait?timeout=60`).expect(200)).body;
  }

  async function createVm(name: string, start: boolean): Promise<string> {
    const images = await get(alice.accessToken, '/api/v1/images').expect(200);
    const imageId = images.body.items.find(
      (i: { name: string; kind: string }) => i.name === KERNEL_IMAGE_NAME && i.kind === 'kernel',
    ).id;
    const res = await post(alice.accessToken, '/api/v1/vms').send({
      name,
      vcpus: 1,
      memoryMiB: 128,
      diskGiB: 1,
      imageId,
      start,
    });
    expect(res.status).toBe(202);
    expect((await waitOp(alice.accessToken, res.headers.location)).status).toBe('succeeded');
    return res.body.vm.id;
  }

  async function ticketFor(
    token: string,
    vmId: string,
    type: 'vnc' | 'serial',
  ): Promise<{ ticket: string; url: string; expiresAt: string; type: string }> {
    const res = await post(token, `/api/v1/vms/${vmId}/console`).send({ type }).expect(201);
    tickets.push(res.body.ticket);
    return res.body;
  }

  /** Opens the WebSocket at `url`; a refused upgrade resolves to its HTTP status and problem body. */
  function connect(url: string): Promise<ConsoleClient | Refusal> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(base.replace(/^http/, 'ws') + url);
      ws.binaryType = 'nodebuffer';
      const client = new ConsoleClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body || '{}') }));
      });
      ws.once('error', (error) => reject(error));
    });
  }

  async function open(url: string): Promise<ConsoleClient> {
    const result = await connect(url);
    if (!(result instanceof ConsoleClient))
      throw new Error(`console refused: ${result.status} ${JSON.stringify(result.body)}`);
    return result;
  }

  async function refused(url: string, status: number, code: string): Promise<void> {
    const result = await connect(url);
    if (result instanceof ConsoleClient) {
      await result.close();
      throw new Error(`expected ${status} ${code}, but the console opened`);
    }
    expect({ status: result.status, code: result.body.code }).toEqual({ status, code });
  }

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'limen-console-e2e-'));
    t = await startTestApp({
      CONSOLE_MAX_SESSIONS_PER_USER: String(SESSION_LIMIT),
      CONSOLE_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS),
      DEFAULT_QUOTA_VMS: '4',
    });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    bob = await createUser(t.http, admin.accessToken, 'bob');
    vmA = await createVm('console-a', true);
    vmB = await createVm('console-b', false);
  });

  afterAll(async () => {
    await browser?.close();
    const ids: Array<{ id: string }> = t ? await t.app.get(DataSource).query(`SELECT id FROM vms`) : [];
    for (const { id } of ids) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata');
    }
    await t?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('issues a single-use ticket, stored only as its SHA-256, and relays QEMU’s real RFB banner', async () => {
    const started = Date.now();
    const issued = await ticketFor(alice.accessToken, vmA, 'vnc');
    expect(issued.ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(issued.ticket, 'base64url')).toHaveLength(32);
    expect(issued.url).toBe(`/api/v1/console/ws/${vmA}?ticket=${issued.ticket}`);
    const ttl = new Date(issued.expiresAt).getTime() - Date.now();
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(61_000);

    const rows = await t.app.get(DataSource).query(`SELECT * FROM console_tickets`);
    expect(rows).toEqual([
      expect.objectContaining({
        token_hash: sha256(issued.ticket),
        user_id: alice.id,
        vm_id: vmA,
        type: 'vnc',
        used_at: null,
      }),
    ]);
    expect(JSON.stringify(rows)).not.toContain(issued.ticket);

    const vnc = await open(issued.url);
    await vnc.waitFor('the RFB banner', (text) => text.length >= 12, 10_000);
    expect(vnc.text().slice(0, 12)).toBe('RFB 003.008\n');
    console.log(`VNC: ticket request to RFB banner in ${Date.now() - started} ms`);
    // Answer the version and see the security types: the relay carries bytes both ways.
    vnc.ws.send(Buffer.from('RFB 003.008\n'));
    await vnc.waitFor('the security types', (text) => text.length >= 14, 10_000);
    expect([...Buffer.concat(vnc.received).subarray(12)]).toEqual(expect.arrayContaining([1])); // 1 = None
    await vnc.close();

    // Spent: the same ticket again is refused before the handshake.
    await refused(issued.url, 401, 'CONSOLE_TICKET_INVALID');
    expect(
      (
        await t.app
          .get(DataSource)
          .query(`SELECT used_at FROM console_tickets WHERE token_hash = $1`, [sha256(issued.ticket)])
      )[0].used_at,
    ).not.toBeNull();
  });

  it('relays the serial console both ways: the guest’s tty echo and its boot output after a reset', async () => {
    // The tty echoes only once the guest's init holds it open: on a loaded machine (CI runs e2e files
    // side by side under TCG) the boot can take far longer than the echo timeout below.
    const booted = Date.now();
    while (!(await get(alice.accessToken, `/api/v1/vms/${vmA}/serial`).expect(200)).text.includes(GUEST_MARKER)) {
      if (Date.now() - booted > 90_000) throw new Error('the guest printed no boot marker within 90 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    const issued = await ticketFor(alice.accessToken, vmA, 'serial');
    const serial = await open(issued.url);
    // QEMU notices a newly opened pty within about a second; until then it drops the guest's bytes.
    const echoStarted = Date.now();
    const word = `limen-echo-${Date.now()}`;
    const typing = setInterval(() => serial.ws.send(Buffer.from(`${word}\r`)), 300);
    try {
      await serial.waitFor('the echo of what was typed', (text) => text.includes(word), 15_000);
    } finally {
      clearInterval(typing);
    }
    console.log(`serial: first echo ${Date.now() - echoStarted} ms after connect`);

    // A keystroke now and then keeps the session from idling out while the guest reboots quietly.
    const keepAlive = setInterval(() => serial.ws.send(Buffer.from('\r')), 1000);
    try {
      const reset = await post(alice.accessToken, `/api/v1/vms/${vmA}/actions`).send({ action: 'reset' }).expect(202);
      const resetAt = Date.now();
      expect((await waitOp(alice.accessToken, reset.headers.location)).status).toBe('succeeded');
      await serial.waitFor('the boot marker after the reset', (text) => text.includes(GUEST_MARKER), 60_000);
      console.log(`serial: ${GUEST_MARKER} through the WebSocket ${Date.now() - resetAt} ms after the reset request`);
    } finally {
      clearInterval(keepAlive);
    }
    await serial.close();
  });

  it(`closes a session after ${IDLE_SECONDS} s without traffic either way`, async () => {
    const serial = await open((await ticketFor(alice.accessToken, vmA, 'serial')).url);
    const opened = Date.now();
    await serial.waitFor('the idle close', () => false, (IDLE_SECONDS + 5) * 1000).catch(() => undefined);
    const after = Date.now() - opened;
    console.log(
      `idle: closed ${after} ms after connect with ${JSON.stringify(serial.closed)} (timeout ${IDLE_SECONDS} s)`,
    );
    expect(serial.closed).toEqual({ code: 4000, reason: 'idle timeout' });
    expect(after).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 - 100);
  });

  it('refuses expired, unknown and foreign tickets, other users’ VMs, stopped VMs and bad requests', async () => {
    // Someone else's VM: 404 at ticket time, as if it did not exist.
    expectProblem(await post(bob.accessToken, `/api/v1/vms/${vmA}/console`).send({ type: 'vnc' }), 404, 'NOT_FOUND');
    expectProblem(
      await post(alice.accessToken, `/api/v1/vms/${vmB}/console`).send({ type: 'vnc' }),
      409,
      'INVALID_STATE',
    );
    expectProblem(
      await post(alice.accessToken, `/api/v1/vms/${vmA}/console`).send({ type: 'spice' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await request(t.http).post(`/api/v1/vms/${vmA}/console`).send({ type: 'vnc' }),
      401,
      'UNAUTHENTICATED',
    );

    const expired = await ticketFor(alice.accessToken, vmA, 'vnc');
    await t.app
      .get(DataSource)
      .query(`UPDATE console_tickets SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, [
        sha256(expired.ticket),
      ]);
    await refused(expired.url, 401, 'CONSOLE_TICKET_INVALID');

    await refused(`/api/v1/console/ws/${vmA}?ticket=${'A'.repeat(43)}`, 401, 'CONSOLE_TICKET_INVALID');
    await refused(`/api/v1/console/ws/${vmA}`, 401, 'CONSOLE_TICKET_INVALID');
    await refused(`/api/v1/console/ws/not-a-vm?ticket=x`, 404, 'NOT_FOUND');

    // A ticket for VM A presented on VM B's socket is refused, and spent: it cannot be retried on A.
    const forA = await ticketFor(alice.accessToken, vmA, 'serial');
    await refused(`/api/v1/console/ws/${vmB}?ticket=${forA.ticket}`, 403, 'CONSOLE_TICKET_INVALID');
    await refused(forA.url, 401, 'CONSOLE_TICKET_INVALID');

    // Redeemed once only, even when two connections race for it.
    const raced = await ticketFor(alice.accessToken, vmA, 'vnc');
    const results = await Promise.all([connect(raced.url), connect(raced.url), connect(raced.url)]);
    const opened = results.filter((r): r is ConsoleClient => r instanceof ConsoleClient);
    expect(opened).toHaveLength(1);
    expect(results.filter((r) => !(r instanceof ConsoleClient)).map((r) => (r as Refusal).status)).toEqual([401, 401]);
    await opened[0].close();
  });

  it(`limits sessions per user to ${SESSION_LIMIT}, at ticket time and at connect time, and frees a slot on close`, async () => {
    const first = await open((await ticketFor(alice.accessToken, vmA, 'vnc')).url);
    const pending = await ticketFor(alice.accessToken, vmA, 'vnc');
    const second = await open((await ticketFor(alice.accessToken, vmA, 'serial')).url);
    expectProblem(
      await post(alice.accessToken, `/api/v1/vms/${vmA}/console`).send({ type: 'vnc' }),
      429,
      'CONSOLE_SESSION_LIMIT',
    );
    // Issued while there was room, redeemed when there is none.
    await refused(pending.url, 429, 'CONSOLE_SESSION_LIMIT');
    // The limit is per user: an admin still gets in.
    const adminSession = await open((await ticketFor(admin.accessToken, vmA, 'vnc')).url);
    await adminSession.close();

    await second.close();
    const deadline = Date.now() + 5_000;
    let res = await post(alice.accessToken, `/api/v1/vms/${vmA}/console`).send({ type: 'vnc' });
    while (res.status === 429 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      res = await post(alice.accessToken, `/api/v1/vms/${vmA}/console`).send({ type: 'vnc' });
    }
    expect(res.status).toBe(201);
    tickets.push(res.body.ticket);
    const third = await open(res.body.url);
    await Promise.all([first.close(), third.close()]);
  });

  it('audits every console open and connect, and never records a ticket', async () => {
    const opens = await get(admin.accessToken, `/api/v1/audit?action=console.open&limit=500`).expect(200);
    const aliceVnc = opens.body.items.filter(
      (e: { actorId: string; targetId: string; result: string }) =>
        e.actorId === alice.id && e.targetId === vmA && e.result === 'success',
    );
    expect(aliceVnc.length).toBeGreaterThanOrEqual(8);
    expect(aliceVnc[0]).toEqual(
      expect.objectContaining({
        action: 'console.open',
        statusCode: 201,
        details: { type: expect.stringMatching(/^(vnc|serial)$/) },
      }),
    );
    expect(opens.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actorId: bob.id, targetId: vmA, result: 'failure', statusCode: 404 }),
      ]),
    );

    const connects = await get(admin.accessToken, `/api/v1/audit?action=console.connect&limit=500`).expect(200);
    expect(connects.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actorId: alice.id,
          targetId: vmA,
          result: 'success',
          statusCode: 101,
          details: { type: 'serial' },
        }),
        expect.objectContaining({
          actorId: null,
          targetId: vmB,
          result: 'failure',
          statusCode: 403,
          errorCode: 'CONSOLE_TICKET_INVALID',
        }),
      ]),
    );
    const everything = JSON.stringify([
      opens.body,
      connects.body,
      await t.app.get(DataSource).query(`SELECT * FROM audit_log`),
    ]);
    expect(tickets.length).toBeGreaterThan(5);
    for (const ticket of tickets) expect(everything).not.toContain(ticket);
  });

  it('serves the console page; in headless Chromium noVNC shows the VM’s screen', async () => {
    const html = await request(t.http).get(`/console/${vmA}`).expect(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.headers['content-security-policy']).toContain("script-src 'self'");
    expect(html.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    await request(t.http)
      .get('/console/assets/novnc/core/rfb.js')
      .expect(200)
      .expect('Content-Type', /javascript/);
    await request(t.http)
      .get('/console/assets/xterm/lib/xterm.mjs')
      .expect(200)
      .expect('Content-Type', /javascript/);
    expectProblem(await request(t.http).get('/console/assets/novnc/package.json'), 404, 'NOT_FOUND');
    expectProblem(await request(t.http).get('/console/assets/novnc/..%2F..%2F..%2Fpackage.json'), 404, 'NOT_FOUND');
    expectProblem(await request(t.http).get('/console/assets/other/x.js'), 404, 'NOT_FOUND');

    const launched = Date.now();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1024, height: 640 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on(
      'console',
      (message) => message.type() === 'error' && problems.push(`${message.text()} ${message.location().url}`),
    );
    await page.goto(`${base}/console/${vmA}#token=${alice.accessToken}`);
    await page.waitForSelector('body[data-state="connected"]', { timeout: 30_000 });
    expect(page.url()).toBe(`${base}/console/${vmA}`); // the token left the address bar
    // noVNC draws into a canvas whose own size is the guest's framebuffer: wait until the first update landed.
    const canvas = page.locator('#screen canvas');
    const framebuffer = async () =>
      PNG.sync.read(
        Buffer.from(
          (
            await canvas.evaluate((c) => (c as unknown as { toDataURL(type: string): string }).toDataURL('image/png'))
          ).split(',')[1],
          'base64',
        ),
      );
    const deadline = Date.now() + 30_000;
    let drawn = await framebuffer();
    while (litPixels(drawn) === 0 && Date.now() < deadline) {
      await page.waitForTimeout(250);
      drawn = await framebuffer();
    }
    const shot = PNG.sync.read(await canvas.screenshot({ path: join(scratch, 'console-vnc.png') }));
    console.log(
      `Chromium: launch to first non-blank frame ${Date.now() - launched} ms; framebuffer ${drawn.width}x${drawn.height}, screenshot ${shot.width}x${shot.height}`,
    );

    // What the user sees is not blank: several colours, and a real share of lit pixels.
    expect(distinctColours(shot)).toBeGreaterThanOrEqual(2);
    expect(litPixels(shot)).toBeGreaterThan(100);
    // And it is this VM's screen: noVNC's framebuffer matches the hypervisor's own screenshot.
    const truth = PNG.sync.read(
      (await get(alice.accessToken, `/api/v1/vms/${vmA}/screenshot`).buffer(true).parse(binaryParser).expect(200))
        .body as Buffer,
    );
    expect([drawn.width, drawn.height]).toEqual([truth.width, truth.height]);
    const same = matchingPixels(drawn, truth);
    console.log(
      `Chromium: ${distinctColours(shot)} colours, ${litPixels(shot)} lit pixels on screen; framebuffer equals the hypervisor screenshot on ${(same * 100).toFixed(2)}% of pixels`,
    );
    expect(same).toBeGreaterThan(0.98);
    expect(problems).toEqual([]);

    // The serial view through the same page: xterm.js shows the guest's echo.
    await page.goto(`${base}/console/${vmA}?type=serial`); // the token is in sessionStorage now
    await page.waitForSelector('body[data-state="connected"]', { timeout: 30_000 });
    const word = `xterm-${Date.now()}`;
    const deadlineSerial = Date.now() + 15_000;
    while (!(await page.locator('.xterm-rows').innerText()).includes(word) && Date.now() < deadlineSerial) {
      await page.keyboard.type(`${word}\r`);
      await page.waitForTimeout(500);
    }
    expect(await page.locator('.xterm-rows').innerText()).toContain(word);
    await page.close();
  });
});

/** supertest's parser receives node's response stream, though superagent types it as its Response. */
function binaryParser(res: request.Response, done: (error: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

function distinctColours(png: PNG): number {
  const colours = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4) colours.add(png.data.readUInt32BE(i));
  return colours.size;
}

/** Pixels brighter than the (dark) background. */
function litPixels(png: PNG): number {
  let lit = 0;
  for (let i = 0; i < png.data.length; i += 4) if (png.data[i] + png.data[i + 1] + png.data[i + 2] > 96) lit++;
  return lit;
}

function matchingPixels(a: PNG, b: PNG): number {
  let same = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    if (
      Math.abs(a.data[i] - b.data[i]) +
        Math.abs(a.data[i + 1] - b.data[i + 1]) +
        Math.abs(a.data[i + 2] - b.data[i + 2]) <
      24
    )
      same++;
  }
  return same / (a.data.length / 4);
}
