import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

const METRICS_TOKEN = 'metrics-token-for-the-e2e-test';

/** The value of one sample line, e.g. sample(text, 'limen_vms{state="running"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Prometheus /metrics (e2e)', () => {
  let t: TestApp;
  const scrape = async () =>
    (await request(t.http).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`).expect(200)).text;

  beforeAll(async () => {
    // No agent listens on port 9 (discard): the agent.up rule below must fire.
    t = await startTestApp({ METRICS_TOKEN, AGENT_URL: 'http://127.0.0.1:9', ALERT_EVAL_INTERVAL_SECONDS: '1' });
  });
  afterAll(async () => {
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`);
    }
    await t.close();
  });

  it('needs METRICS_TOKEN when one is set', async () => {
    expectProblem(await request(t.http).get('/metrics'), 401, 'UNAUTHENTICATED');
    expectProblem(await request(t.http).get('/metrics').set('Authorization', 'Bearer wrong'), 401, 'UNAUTHENTICATED');
    const res = await request(t.http).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('exposes HTTP, VM, operation, quota, virsh and event-stream series with real values', async () => {
    const admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    const user = await createUser(t.http, admin, 'measured');
    await request(t.http)
      .put(`/api/v1/users/${user.id}/quota`)
      .set('Authorization', `Bearer ${admin}`)
      .send({ vms: 1 })
      .expect(200);
    const images = await request(t.http)
      .get('/api/v1/images')
      .set('Authorization', `Bearer ${user.accessToken}`)
      .expect(200);
    const imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
    const created = await request(t.http)
      .post('/api/v1/vms')
      .set('Authorization', `Bearer ${user.accessToken}`)
      .send({ name: 'metered', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId })
      .expect(202);
    await request(t.http)
      .get(`${created.headers.location}/wait?timeout=60`)
      .set('Authorization', `Bearer ${user.accessToken}`)
      .expect(200);
    await request(t.http)
      .get(`/api/v1/vms/${created.body.vm.id}`)
      .set('Authorization', `Bearer ${user.accessToken}`)
      .expect(200);
    expectProblem(
      await request(t.http)
        .post('/api/v1/vms')
        .set('Authorization', `Bearer ${user.accessToken}`)
        .send({ name: 'second', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId }),
      403,
      'QUOTA_EXCEEDED',
    );

    await request(t.http)
      .post('/api/v1/alert-rules')
      .set('Authorization', `Bearer ${admin}`)
      .send({ name: 'agent gone now', metric: 'agent.up', comparator: '<', threshold: 1, for: 0, severity: 'critical' })
      .expect(201);

    // Kill this app's `virsh event` process: the stream restarts and counts it.
    const eventPids = execFileSync('pgrep', ['-P', String(process.pid), '-f', 'event --all --loop'], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    expect(eventPids.length).toBeGreaterThan(0);
    execFileSync('kill', ['-9', ...eventPids]);
    let text = '';
    for (let i = 0; i < 50; i++) {
      text = await scrape();
      if (
        (sample(text, 'limen_hypervisor_event_stream_restarts_total') ?? 0) >= 1 &&
        (sample(text, 'limen_alerts_firing{severity="critical"}') ?? 0) >= 1
      )
        break;
      await new Promise((r) => setTimeout(r, 200));
    }

    expect(sample(text, 'limen_hypervisor_event_stream_restarts_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'limen_http_requests_total{method="GET",route="/api/v1/vms/:id",status="200"}')).toBe(1);
    expect(sample(text, 'limen_http_requests_total{method="POST",route="/api/v1/vms",status="403"}')).toBe(1);
    expect(
      sample(text, 'limen_http_request_duration_seconds_count{method="POST",route="/api/v1/vms",status="202"}'),
    ).toBe(1);
    expect(sample(text, 'limen_vms{state="running"}')).toBe(1);
    expect(sample(text, 'limen_vms{state="stopped"}')).toBe(0);
    expect(sample(text, 'limen_operations_total{kind="vm.create",status="succeeded"}')).toBe(1);
    expect(sample(text, 'limen_operation_duration_seconds_sum{kind="vm.create",status="succeeded"}')).toBeGreaterThan(
      0,
    );
    expect(sample(text, 'limen_quota_denials_total{resource="vms"}')).toBe(1);
    expect(
      sample(text, 'limen_virsh_command_duration_seconds_count{command="start",ok="true"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'limen_virsh_command_duration_seconds_count{command="define",ok="true"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'limen_api_process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(sample(text, 'limen_alerts_firing{severity="critical"}')).toBe(1);
    expect(sample(text, 'limen_alerts_firing{severity="info"}')).toBe(0);
  });
});
