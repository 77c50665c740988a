import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo, createServer as createTcpServer, Server as TcpServer } from 'node:net';
import request from 'supertest';
import { AgentProcess, startAgent } from './support/agent-process';
import { openEventStream, SseEvent } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

const EVAL_INTERVAL_SECONDS = 1;
const AGENT_TOKEN = `e2e-agent-token-${randomUUID()}`;
const SECRET = `webhook-secret-${randomUUID()}`;

interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: {
    id: string;
    event: string;
    timestamp: string;
    alert: null | {
      id: string;
      ruleId: string;
      state: string;
      value: number;
      subject: string | null;
      firedAt: string | null;
      resolvedAt: string | null;
      pendingSince: string;
    };
  };
  receivedAt: number;
}

/** A webhook receiver on loopback. `/flaky` answers 503 to the first attempt of every delivery. */
function startReceiver(): Promise<{
  server: Server;
  url: string;
  deliveries: Delivery[];
  waitFor: (pred: (d: Delivery) => boolean, timeoutMs: number) => Promise<Delivery>;
}> {
  const deliveries: Delivery[] = [];
  const failedOnce = new Set<string>();
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const delivery: Delivery = {
        path: req.url!,
        headers: req.headers,
        raw,
        body: JSON.parse(raw),
        receivedAt: Date.now(),
      };
      deliveries.push(delivery);
      const id = String(req.headers['x-limen-delivery']);
      if (req.url === '/flaky' && !failedOnce.has(id)) {
        failedOnce.add(id);
        res.writeHead(503).end();
        return;
      }
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const waitFor = async (pred: (d: Delivery) => boolean, timeoutMs: number) => {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          const found = deliveries.find(pred);
          if (found) return found;
          await new Promise((r) => setTimeout(r, 20));
        }
        throw new Error(
          `no matching webhook delivery within ${timeoutMs} ms; got ${deliveries.map((d) => `${d.path}:${d.body.event}`).join(', ')}`,
        );
      };
      resolve({ server, url, deliveries, waitFor });
    });
  });
}

interface Mail {
  from: string;
  to: string[];
  data: string;
}

/** Just enough SMTP (no STARTTLS, no auth) for nodemailer to hand over messages on loopback. */
function startSmtpSink(): Promise<{ server: TcpServer; url: string; mails: Mail[] }> {
  const mails: Mail[] = [];
  const server = createTcpServer((socket) => {
    let buffer = '';
    let mail: Mail = { from: '', to: [], data: '' };
    let inData = false;
    socket.setEncoding('utf8');
    socket.write('220 sink ESMTP\r\n');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          mail.data = buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          mails.push(mail);
          mail = { from: '', to: [], data: '' };
          inData = false;
          socket.write('250 queued\r\n');
          continue;
        }
        const end = buffer.indexOf('\r\n');
        if (end < 0) return;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') socket.write('250-sink\r\n250 8BITMIME\r\n');
        else if (verb === 'MAIL') ((mail.from = line), socket.write('250 ok\r\n'));
        else if (verb === 'RCPT') (mail.to.push(line), socket.write('250 ok\r\n'));
        else if (verb === 'DATA') ((inData = true), socket.write('354 go ahead\r\n'));
        else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `smtp://127.0.0.1:${(server.address() as AddressInfo).port}`, mails }),
    ),
  );
}

/** What a receiver does: recompute the HMAC of the raw body and compare in constant time. */
function signatureValid(delivery: Delivery, secret: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(delivery.raw).digest('hex')}`);
  const given = Buffer.from(String(delivery.headers['x-limen-signature']));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('alerting (e2e: real app, real agent, loopback webhook)', () => {
  let agent: AgentProcess;
  let t: TestApp;
  let base: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
  let admin: { accessToken: string };
  let adminId: string;
  let user: { id: string; accessToken: string };
  let events: Awaited<ReturnType<typeof openEventStream>>;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    patch: (path: string) => request(t.http).patch(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });
  const adminApi = () => as(admin.accessToken);
  const forRule =
    (ruleId: string, event: string, path = '/hook') =>
    (d: Delivery) =>
      d.path === path && d.body.event === event && d.body.alert?.ruleId === ruleId;
  const sse = (type: string, ruleId: string) => (e: SseEvent) =>
    e.type === type && (e.data.alert as { ruleId?: string } | undefined)?.ruleId === ruleId;

  async function createRule(body: Record<string, unknown>): Promise<{ id: string }> {
    return (await adminApi().post('/api/v1/alert-rules').send(body).expect(201)).body;
  }

  beforeAll(async () => {
    receiver = await startReceiver();
    smtp = await startSmtpSink();
    agent = await startAgent({ AGENT_TOKEN, NODE_ENV: 'production' });
    t = await startTestApp({
      AGENT_URL: agent.url,
      AGENT_TOKEN,
      ALERT_EVAL_INTERVAL_SECONDS: String(EVAL_INTERVAL_SECONDS),
      SMTP_URL: smtp.url,
      ALERT_EMAIL_FROM: 'LIMEN <alerts@limen.test>',
      LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'silent',
    });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    adminId = (await adminApi().get('/api/v1/auth/me').expect(200)).body.id;
    user = await createUser(t.http, admin.accessToken, 'alert-reader');
    events = await openEventStream(base, admin.accessToken);
  });
  afterAll(async () => {
    events?.close();
    await t?.close();
    await agent?.stop();
    await new Promise((r) => receiver?.server.close(r));
    await new Promise((r) => smtp?.server.close(r));
  });

  it('seeds the default rules: disk ≥ 85, memory ≥ 90, hypervisor down, agent down, host down', async () => {
    const rules = (await adminApi().get('/api/v1/alert-rules?limit=500').expect(200)).body.items as Array<
      Record<string, unknown>
    >;
    const conditions = rules.map((r) => `${r.metric} ${r.comparator} ${r.threshold}`).sort();
    expect(conditions).toEqual([
      'agent.up < 1',
      'host.disk.percent >= 85',
      'host.memory.percent >= 90',
      'host.up < 1',
      'hypervisor.up < 1',
    ]);
    expect(rules.every((r) => r.enabled === true)).toBe(true);
  });

  it('creates a webhook channel whose secret is never returned', async () => {
    const created = await adminApi()
      .post('/api/v1/alert-channels')
      .send({ name: 'loopback hook', type: 'webhook', url: `${receiver.url}/hook`, secret: SECRET })
      .expect(201);
    expect(created.body).toEqual(
      expect.objectContaining({
        type: 'webhook',
        url: `${receiver.url}/hook`,
        hasSecret: true,
        minSeverity: 'info',
        enabled: true,
      }),
    );
    expect(JSON.stringify(created.body)).not.toContain(SECRET);
    const listed = await adminApi().get('/api/v1/alert-channels').expect(200);
    expect(JSON.stringify(listed.body)).not.toContain(SECRET);
    expect(listed.body.items[0]).not.toHaveProperty('secret');

    // Without a secret one is generated and shown this once.
    const generated = await adminApi()
      .post('/api/v1/alert-channels')
      .send({ name: 'generated secret', type: 'webhook', url: `${receiver.url}/other`, enabled: false })
      .expect(201);
    expect(generated.body.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await adminApi().get(`/api/v1/alert-channels/${generated.body.id}`).expect(200)).body).not.toHaveProperty(
      'secret',
    );
    await adminApi().delete(`/api/v1/alert-channels/${generated.body.id}`).expect(204);
  });

  it('sends a correctly signed firing notification within two evaluation intervals, then resolved after the threshold is raised', async () => {
    const created = Date.now();
    const rule = await createRule({
      name: 'memory in use',
      metric: 'host.memory.percent',
      comparator: '>=',
      threshold: 0,
      for: 0,
      severity: 'critical',
    });
    const firing = await receiver.waitFor(forRule(rule.id, 'firing'), 2 * EVAL_INTERVAL_SECONDS * 1000);
    const latency = firing.receivedAt - created;
    process.stdout.write(
      `[alerting e2e] firing webhook ${latency} ms after the rule was created (interval ${EVAL_INTERVAL_SECONDS} s)\n`,
    );
    expect(latency).toBeLessThanOrEqual(2 * EVAL_INTERVAL_SECONDS * 1000);

    expect(signatureValid(firing, SECRET)).toBe(true);
    expect(signatureValid(firing, `${SECRET}x`)).toBe(false);
    expect(firing.headers['content-type']).toBe('application/json');
    expect(firing.headers['x-limen-event']).toBe('firing');
    expect(firing.headers['x-limen-delivery']).toBe(firing.body.id);
    expect(firing.body.alert).toEqual(
      expect.objectContaining({
        ruleId: rule.id,
        state: 'firing',
        subject: null,
        severity: 'critical',
        metric: 'host.memory.percent',
      }),
    );
    expect(firing.body.alert!.value).toBeGreaterThan(0);
    expect(firing.body.alert!.value).toBeLessThanOrEqual(100);
    await events.waitFor(sse('alert.firing', rule.id), 5000);

    // Deduplicated: later evaluations keep the one instance and send nothing new.
    await new Promise((r) => setTimeout(r, 2.5 * EVAL_INTERVAL_SECONDS * 1000));
    expect(receiver.deliveries.filter(forRule(rule.id, 'firing'))).toHaveLength(1);
    const open = (await adminApi().get('/api/v1/alerts?state=firing').expect(200)).body.items.filter(
      (a: { ruleId: string }) => a.ruleId === rule.id,
    );
    expect(open).toHaveLength(1);
    expect(open[0].id).toBe(firing.body.alert!.id);

    const raised = Date.now();
    await adminApi().patch(`/api/v1/alert-rules/${rule.id}`).send({ threshold: 101 }).expect(200);
    const resolved = await receiver.waitFor(forRule(rule.id, 'resolved'), 2 * EVAL_INTERVAL_SECONDS * 1000 + 1000);
    process.stdout.write(
      `[alerting e2e] resolved webhook ${resolved.receivedAt - raised} ms after the threshold was raised\n`,
    );
    expect(signatureValid(resolved, SECRET)).toBe(true);
    expect(resolved.body.alert).toEqual(
      expect.objectContaining({ id: firing.body.alert!.id, state: 'resolved', resolvedAt: expect.any(String) }),
    );
    await events.waitFor(sse('alert.resolved', rule.id), 5000);
    const stored = (await adminApi().get(`/api/v1/alerts/${firing.body.alert!.id}`).expect(200)).body;
    expect(stored.state).toBe('resolved');
    await adminApi().delete(`/api/v1/alert-rules/${rule.id}`).expect(204);
  });

  it('records an ack (who and when), visible in GET and on the event stream', async () => {
    const rule = await createRule({
      name: 'agent reachable',
      metric: 'agent.up',
      comparator: '>=',
      threshold: 1,
      for: 0,
      severity: 'info',
    });
    const firing = await receiver.waitFor(forRule(rule.id, 'firing'), 5000);
    const alertId = firing.body.alert!.id;
    expectProblem(await as(user.accessToken).post(`/api/v1/alerts/${alertId}/ack`), 403, 'FORBIDDEN');
    const before = Date.now();
    const acked = (await adminApi().post(`/api/v1/alerts/${alertId}/ack`).expect(200)).body;
    expect(acked).toEqual(expect.objectContaining({ id: alertId, state: 'firing', ackedBy: adminId }));
    expect(Date.parse(acked.ackedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(acked.ackedAt)).toBeLessThanOrEqual(Date.now() + 1000);
    const read = (await adminApi().get(`/api/v1/alerts/${alertId}`).expect(200)).body;
    expect(read).toEqual(expect.objectContaining({ ackedBy: adminId, ackedAt: acked.ackedAt }));
    const event = await events.waitFor(
      (e) => e.type === 'alert.acked' && (e.data.alert as { id: string }).id === alertId,
      5000,
    );
    expect(event.data.by).toEqual({ id: adminId, username: ADMIN.username });
    // Acknowledging again keeps the first record.
    expect((await adminApi().post(`/api/v1/alerts/${alertId}/ack`).expect(200)).body.ackedAt).toBe(acked.ackedAt);
    expectProblem(await adminApi().post(`/api/v1/alerts/${randomUUID()}/ack`), 404, 'NOT_FOUND');

    await adminApi().patch(`/api/v1/alert-rules/${rule.id}`).send({ enabled: false }).expect(200);
    await receiver.waitFor(forRule(rule.id, 'resolved'), 5000);
    expectProblem(await adminApi().post(`/api/v1/alerts/${alertId}/ack`), 409, 'INVALID_STATE');
    await adminApi().delete(`/api/v1/alert-rules/${rule.id}`).expect(204);
  });

  it('honours `for`: pending first, firing only once the condition has held that long', async () => {
    const rule = await createRule({
      name: 'held three seconds',
      metric: 'hypervisor.up',
      comparator: '==',
      threshold: 1,
      for: 3,
    });
    const pending = await (async () => {
      for (let i = 0; i < 50; i++) {
        const items = (await adminApi().get('/api/v1/alerts?state=pending').expect(200)).body.items.filter(
          (a: { ruleId: string }) => a.ruleId === rule.id,
        );
        if (items.length) return items[0];
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('no pending alert');
    })();
    expect(pending).toEqual(expect.objectContaining({ state: 'pending', firedAt: null, value: 1 }));
    expect(receiver.deliveries.filter(forRule(rule.id, 'firing'))).toHaveLength(0);
    const firing = await receiver.waitFor(forRule(rule.id, 'firing'), 3000 + 3 * EVAL_INTERVAL_SECONDS * 1000);
    expect(firing.body.alert!.id).toBe(pending.id);
    expect(
      Date.parse(firing.body.alert!.firedAt!) - Date.parse(firing.body.alert!.pendingSince),
    ).toBeGreaterThanOrEqual(3000);
    await adminApi().delete(`/api/v1/alert-rules/${rule.id}`).expect(204);
  });

  it('silences a rule and subject until a time: the change is recorded and streamed, but not sent', async () => {
    const rule = await createRule({
      name: 'quota watch',
      metric: 'quota.usage.percent',
      comparator: '>=',
      threshold: 0,
      for: 0,
    });
    const firing = await receiver.waitFor(
      (d) => forRule(rule.id, 'firing')(d) && d.body.alert!.subject === user.id,
      5000,
    );
    expect(firing.body.alert!.value).toBe(0);
    const until = new Date(Date.now() + 3600_000).toISOString();
    const silenced = (
      await adminApi().post(`/api/v1/alerts/${firing.body.alert!.id}/silence`).send({ until }).expect(200)
    ).body;
    expect(silenced.silencedUntil).toBe(until);
    expectProblem(
      await adminApi()
        .post(`/api/v1/alerts/${firing.body.alert!.id}/silence`)
        .send({ until: new Date(Date.now() - 1000).toISOString() }),
      400,
      'VALIDATION_FAILED',
    );

    await adminApi().patch(`/api/v1/alert-rules/${rule.id}`).send({ threshold: 1000 }).expect(200);
    await events.waitFor(
      (e) => e.type === 'alert.resolved' && (e.data.alert as { id: string }).id === firing.body.alert!.id,
      5000,
    );
    // The admin's own instance was not silenced and is announced; the silenced one never is.
    await receiver.waitFor((d) => forRule(rule.id, 'resolved')(d) && d.body.alert!.subject === adminId, 5000);
    await new Promise((r) => setTimeout(r, 500));
    expect(
      receiver.deliveries.filter((d) => forRule(rule.id, 'resolved')(d) && d.body.alert!.subject === user.id),
    ).toHaveLength(0);
    const lifted = (await adminApi().delete(`/api/v1/alerts/${firing.body.alert!.id}/silence`).expect(200)).body;
    expect(lifted.silencedUntil).toBeNull();
    await adminApi().delete(`/api/v1/alert-rules/${rule.id}`).expect(204);
  });

  it('retries a failing webhook with backoff, keeping the delivery id and signature', async () => {
    const flaky = await adminApi()
      .post('/api/v1/alert-channels')
      .send({
        name: 'flaky hook',
        type: 'webhook',
        url: `${receiver.url}/flaky`,
        secret: SECRET,
        minSeverity: 'critical',
      })
      .expect(201);
    const rule = await createRule({
      name: 'critical memory',
      metric: 'host.memory.percent',
      comparator: '>',
      threshold: -1,
      for: 0,
      severity: 'critical',
    });
    const first = await receiver.waitFor(forRule(rule.id, 'firing', '/flaky'), 5000);
    const second = await receiver.waitFor((d) => forRule(rule.id, 'firing', '/flaky')(d) && d !== first, 5000);
    expect(second.headers['x-limen-delivery']).toBe(first.headers['x-limen-delivery']);
    expect(second.raw).toBe(first.raw);
    expect(signatureValid(second, SECRET)).toBe(true);
    expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(900);
    await new Promise((r) => setTimeout(r, 2500));
    expect(receiver.deliveries.filter(forRule(rule.id, 'firing', '/flaky'))).toHaveLength(2);
    await adminApi().delete(`/api/v1/alert-rules/${rule.id}`).expect(204);
    await adminApi().delete(`/api/v1/alert-channels/${flaky.body.id}`).expect(204);
  });

  it('sends a test notification on demand and reports the outcome', async () => {
    const channel = (
      await adminApi()
        .post('/api/v1/alert-channels')
        .send({ name: 'test target', type: 'webhook', url: `${receiver.url}/test`, secret: SECRET })
        .expect(201)
    ).body;
    const result = (await adminApi().post(`/api/v1/alert-channels/${channel.id}/test`).expect(200)).body;
    expect(result).toEqual({ delivered: true, latencyMs: expect.any(Number), error: null });
    const delivery = await receiver.waitFor((d) => d.path === '/test' && d.body.event === 'test', 1000);
    expect(delivery.body.alert).toBeNull();
    expect(signatureValid(delivery, SECRET)).toBe(true);

    await adminApi()
      .patch(`/api/v1/alert-channels/${channel.id}`)
      .send({ url: 'http://127.0.0.1:1/closed' })
      .expect(200);
    const failed = (await adminApi().post(`/api/v1/alert-channels/${channel.id}/test`).expect(200)).body;
    expect(failed).toEqual(expect.objectContaining({ delivered: false, error: expect.stringMatching(/unreachable/) }));
    const log = (await adminApi().post('/api/v1/alert-channels').send({ name: 'the log', type: 'log' }).expect(201))
      .body;
    expect((await adminApi().post(`/api/v1/alert-channels/${log.id}/test`).expect(200)).body.delivered).toBe(true);
    for (const id of [channel.id, log.id]) await adminApi().delete(`/api/v1/alert-channels/${id}`).expect(204);
  });

  it('emails through SMTP_URL with nodemailer: a test message, then a firing alert', async () => {
    const channel = (
      await adminApi()
        .post('/api/v1/alert-channels')
        .send({
          name: 'ops mail',
          type: 'email',
          recipients: ['ops@example.com', 'oncall@example.com'],
          minSeverity: 'critical',
        })
        .expect(201)
    ).body;
    expect(channel).toEqual(
      expect.objectContaining({
        type: 'email',
        recipients: ['ops@example.com', 'oncall@example.com'],
        hasSecret: false,
        url: null,
      }),
    );
    expect((await adminApi().post(`/api/v1/alert-channels/${channel.id}/test`).expect(200)).body).toEqual(
      expect.objectContaining({ delivered: true, error: null }),
    );
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0].from).toContain('<alerts@limen.test>');
    expect(smtp.mails[0].to.join()).toMatch(/ops@example\.com.*oncall@example\.com/);
    expect(smtp.mails[0].data).toMatch(/^Subject: \[LIMEN\] TEST: a test notification from LIMEN$/m);

    // Below the channel's minimum severity: not mailed; at it: mailed.
    const quiet = await createRule({
      name: 'mail quiet',
      metric: 'agent.up',
      comparator: '==',
      threshold: 1,
      for: 0,
      severity: 'warning',
    });
    const loud = await createRule({
      name: 'mail loud',
      metric: 'agent.up',
      comparator: '==',
      threshold: 1,
      for: 0,
      severity: 'critical',
    });
    await receiver.waitFor(forRule(quiet.id, 'firing'), 5000);
    const deadline = Date.now() + 5000;
    while (!smtp.mails.some((m) => m.data.includes('mail loud')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const mailed = smtp.mails.filter((m) => /^Subject: \[LIMEN\] FIRING critical: mail loud$/m.test(m.data));
    expect(mailed).toHaveLength(1);
    expect(mailed[0].data).toContain(`Rule:      mail loud (agent.up == 1)`);
    expect(smtp.mails.some((m) => m.data.includes('mail quiet'))).toBe(false);
    for (const id of [quiet.id, loud.id]) await adminApi().delete(`/api/v1/alert-rules/${id}`).expect(204);
    await adminApi().delete(`/api/v1/alert-channels/${channel.id}`).expect(204);
  });

  it('refuses hostile and inconsistent input with 400, and names clashes with 409', async () => {
    const good = { name: 'x', metric: 'host.cpu.percent', comparator: '>', threshold: 90 };
    for (const bad of [
      { comparator: '=>' },
      { comparator: '!=' },
      { metric: 'host.cpu' },
      { metric: "host.cpu.percent'; DROP TABLE alert_rules; --" },
      { threshold: 'NaN' },
      { threshold: null },
      { for: -1 },
      { for: 1.5 },
      { severity: 'fatal' },
      { name: 'two\nlines' },
      { name: '' },
      { unknown: true },
    ]) {
      expectProblem(
        await adminApi()
          .post('/api/v1/alert-rules')
          .send({ ...good, ...bad }),
        400,
        'VALIDATION_FAILED',
      );
    }
    for (const url of [
      'file:///etc/passwd',
      'javascript:alert(1)',
      'ftp://example.com/x',
      'http://user:pass@127.0.0.1/hook',
      '//127.0.0.1/hook',
      'not a url',
      `http://127.0.0.1/${'a'.repeat(3000)}`,
    ]) {
      const res = await adminApi()
        .post('/api/v1/alert-channels')
        .send({ name: 'bad', type: 'webhook', url, secret: SECRET });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['url']);
    }
    expectProblem(
      await adminApi().post('/api/v1/alert-channels').send({ name: 'bad', type: 'webhook' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await adminApi()
        .post('/api/v1/alert-channels')
        .send({ name: 'bad', type: 'webhook', url: `${receiver.url}/hook`, secret: 'short' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await adminApi()
        .post('/api/v1/alert-channels')
        .send({ name: 'bad', type: 'log', url: `${receiver.url}/hook` }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await adminApi().post('/api/v1/alert-channels').send({ name: 'bad', type: 'email' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await adminApi()
        .post('/api/v1/alert-channels')
        .send({ name: 'bad', type: 'email', recipients: ['not-an-address'] }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await adminApi()
        .post('/api/v1/alert-channels')
        .send({ name: 'bad', type: 'email', recipients: ['ops@example.com'], secret: SECRET }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await adminApi().post('/api/v1/alert-channels').send({ name: 'bad', type: 'sms' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(await adminApi().get('/api/v1/alerts?state=burning'), 400, 'VALIDATION_FAILED');

    await adminApi()
      .post('/api/v1/alert-rules')
      .send({ ...good, name: 'Disk Usage HIGH' })
      .expect(409);
    const channels = (await adminApi().get('/api/v1/alert-channels').expect(200)).body.items;
    expect(channels.map((c: { name: string }) => c.name)).toEqual(['loopback hook']);
  });

  it('is for admins only: 403 for users, 401 anonymous', async () => {
    for (const path of ['/api/v1/alerts', '/api/v1/alert-rules', '/api/v1/alert-channels']) {
      expectProblem(await as(user.accessToken).get(path), 403, 'FORBIDDEN');
      expectProblem(await request(t.http).get(path), 401, 'UNAUTHENTICATED');
    }
    expectProblem(
      await as(user.accessToken)
        .post('/api/v1/alert-rules')
        .send({ name: 'x', metric: 'agent.up', comparator: '<', threshold: 1 }),
      403,
      'FORBIDDEN',
    );
  });
});
