import { readFileSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

const GUIDE = join(__dirname, '..', 'docs', 'api-guide.md');
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

/** The one ```js browser-events block of the guide, as written there. */
function browserEventsSnippet(): string {
  const blocks = [...readFileSync(GUIDE, 'utf8').matchAll(/^```js browser-events[ \t]*\n([\s\S]*?)^```[ \t]*$/gm)].map(
    (match) => match[1],
  );
  expect(blocks).toHaveLength(1);
  return blocks[0];
}

interface SeenEvent {
  id?: string;
  type: string;
  data: { type?: string; name?: string } | null;
}

type FollowEvents = (token: string, onEvent: (event: SeenEvent) => void, signal: AbortSignal) => Promise<void>;

/** The guide's browser subscription, run as written in headless Chromium on a page of the api's own origin. */
describe('docs: following events in a browser (e2e)', () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let page: Page;
  let alice: { accessToken: string };

  beforeAll(async () => {
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage();
    await page.goto(`${base}/health/live`);
    // The guide's code as a script of that page (defines followEvents on it).
    await page.evaluate(`${browserEventsSnippet()}\nglobalThis.followEvents = followEvents;`);
  });

  afterAll(async () => {
    await browser?.close();
    if (t) {
      const ids: Array<{ id: string }> = await t.app.get(DataSource).query(`SELECT id FROM vms`);
      for (const { id } of ids) {
        virsh('destroy', `limen-${id}`);
        virsh('undefine', `limen-${id}`, '--snapshots-metadata');
      }
      await t.close();
    }
  });

  it('contract 12.3: EventSource cannot authenticate: the stream refuses it and it gives up', async () => {
    const readyState = await page.evaluate(
      () =>
        new Promise<number>((done) => {
          const source = new EventSource('/api/v1/events');
          source.onerror = () => {
            done(source.readyState);
            source.close();
          };
        }),
    );
    expect(readyState).toBe(2); // CLOSED: a 401 ends an EventSource for good
    expect((await request(t.http).get('/api/v1/events').query({ access_token: alice.accessToken })).status).toBe(401);
  });

  it('contract 12.3: the documented fetch subscription sends the bearer token and receives the caller’s events', async () => {
    // Start following; resolve once connected (the stream opens with a heartbeat).
    await page.evaluate(
      ({ token }) => {
        const scope = globalThis as unknown as {
          seen: SeenEvent[];
          stop: AbortController;
          failure?: string;
          followEvents: FollowEvents;
        };
        scope.seen = [];
        scope.stop = new AbortController();
        const followEvents = scope.followEvents;
        return new Promise<void>((connected) => {
          followEvents(
            token,
            (event) => {
              scope.seen.push(event);
              if (event.type === 'heartbeat') connected();
            },
            scope.stop.signal,
          ).catch((error: Error) => {
            scope.failure = error.message;
            connected();
          });
        });
      },
      { token: alice.accessToken },
    );

    const images = await request(t.http).get('/api/v1/images').auth(alice.accessToken, { type: 'bearer' }).expect(200);
    const imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id as string;
    const created = await request(t.http)
      .post('/api/v1/vms')
      .auth(alice.accessToken, { type: 'bearer' })
      .send({ name: 'watched', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false })
      .expect(202);

    await page.waitForFunction(
      () => (globalThis as unknown as { seen: SeenEvent[] }).seen.some((e) => e.type === 'vm.created'),
      undefined,
      { timeout: 30_000 },
    );
    const { seen, failure } = await page.evaluate(() => {
      const scope = globalThis as unknown as { seen: SeenEvent[]; stop: AbortController; failure?: string };
      scope.stop.abort();
      return { seen: scope.seen, failure: scope.failure };
    });
    expect(failure).toBeUndefined();
    expect(seen.find((e) => e.type === 'vm.created')).toEqual({
      id: expect.stringMatching(/^\d+$/),
      type: 'vm.created',
      data: expect.objectContaining({ type: 'vm.created', name: 'watched' }),
    });
    await request(t.http)
      .get(`${created.headers.location}/wait?timeout=60`)
      .auth(alice.accessToken, { type: 'bearer' })
      .expect(200);
  });

  it('contract 12.3: the documented subscription reports a refused token instead of retrying forever', async () => {
    const failure = await page.evaluate(() =>
      (globalThis as unknown as { followEvents: FollowEvents })
        .followEvents('not-a-token', () => undefined, new AbortController().signal)
        .then(
          () => 'ended',
          (error: Error) => error.message,
        ),
    );
    expect(failure).toBe('GET /api/v1/events: HTTP 401');
  });
});
