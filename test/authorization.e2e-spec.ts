import request from 'supertest';
import { KERNEL_IMAGE_NAME } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

type Actor = 'owner' | 'other' | 'admin' | 'anonymous';

/**
 * Every VM-scoped route against {owner, other user, admin, anonymous}: the
 * other user always gets 404 (existence is not leaked) and changes nothing.
 */
describe('authorization matrix (e2e)', () => {
  let t: TestApp;
  const tokens: Partial<Record<Actor, string>> = {};
  let vmId: string;
  let snapshotId: string;
  let scheduleId: string;
  let backupId: string;
  let operationId: string;

  const send = (actor: Actor, method: 'get' | 'post' | 'patch' | 'delete', path: string, body?: object) => {
    let req = request(t.http)[method](path);
    if (actor !== 'anonymous') req = req.auth(tokens[actor]!, { type: 'bearer' });
    return body ? req.send(body) : req;
  };
  const settle = async (res: request.Response) => {
    if (res.status === 202)
      await request(t.http)
        .get(`${res.headers.location}/wait?timeout=60`)
        .auth(tokens.admin!, { type: 'bearer' })
        .expect(200);
  };

  beforeAll(async () => {
    t = await startTestApp();
    tokens.admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    tokens.owner = (await createUser(t.http, tokens.admin, 'owner')).accessToken;
    tokens.other = (await createUser(t.http, tokens.admin, 'other')).accessToken;
    const images = await send('owner', 'get', '/api/v1/images').expect(200);
    const imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
    const created = await send('owner', 'post', '/api/v1/vms', {
      name: 'guarded',
      vcpus: 1,
      memoryMiB: 64,
      diskGiB: 1,
      imageId,
      start: false,
    }).expect(202);
    vmId = created.body.vm.id;
    operationId = created.body.operation.id;
    await settle(created);
    const snap = await send('owner', 'post', `/api/v1/vms/${vmId}/snapshots`, { name: 'base' }).expect(202);
    snapshotId = snap.body.snapshot.id;
    await settle(snap);
    scheduleId = (
      await send('owner', 'post', `/api/v1/vms/${vmId}/schedules`, {
        kind: 'snapshot',
        cron: '0 3 * * *',
        enabled: false,
      })
    ).body.id;
    const backup = await send('owner', 'post', `/api/v1/vms/${vmId}/backups`, {}).expect(202);
    backupId = backup.body.backup.id;
    await settle(backup);
  });
  afterAll(async () => {
    // The VM, and those the owner's and the admin's restores made.
    for (const vm of (await send('admin', 'get', '/api/v1/vms').expect(200)).body.items as Array<{ id: string }>)
      await settle(await send('admin', 'delete', `/api/v1/vms/${vm.id}`));
    await t.close();
  });

  const routes = (): Array<[string, 'get' | 'post' | 'patch' | 'delete', string, object | undefined]> => [
    ['read VM', 'get', `/api/v1/vms/${vmId}`, undefined],
    ['update VM', 'patch', `/api/v1/vms/${vmId}`, { description: 'changed' }],
    ['act on VM', 'post', `/api/v1/vms/${vmId}/actions`, { action: 'resume' }],
    ['insert media', 'post', `/api/v1/vms/${vmId}/media`, { imageId: '00000000-0000-4000-8000-000000000000' }],
    ['eject media', 'delete', `/api/v1/vms/${vmId}/media`, undefined],
    ['stats', 'get', `/api/v1/vms/${vmId}/stats`, undefined],
    ['serial', 'get', `/api/v1/vms/${vmId}/serial`, undefined],
    ['screenshot', 'get', `/api/v1/vms/${vmId}/screenshot`, undefined],
    ['list snapshots', 'get', `/api/v1/vms/${vmId}/snapshots`, undefined],
    ['create snapshot', 'post', `/api/v1/vms/${vmId}/snapshots`, { name: 'probe' }],
    ['revert snapshot', 'post', `/api/v1/vms/${vmId}/snapshots/${snapshotId}/revert`, undefined],
    ['delete snapshot', 'delete', `/api/v1/vms/${vmId}/snapshots/${snapshotId}`, undefined],
    ['list schedules', 'get', `/api/v1/vms/${vmId}/schedules`, undefined],
    [
      'create schedule',
      'post',
      `/api/v1/vms/${vmId}/schedules`,
      { kind: 'snapshot', cron: '0 4 * * *', enabled: false },
    ],
    ['read schedule', 'get', `/api/v1/vms/${vmId}/schedules/${scheduleId}`, undefined],
    ['update schedule', 'patch', `/api/v1/vms/${vmId}/schedules/${scheduleId}`, { keepLast: 2 }],
    ['delete schedule', 'delete', `/api/v1/vms/${vmId}/schedules/${scheduleId}`, undefined],
    ['list backups', 'get', `/api/v1/vms/${vmId}/backups`, undefined],
    ['create backup', 'post', `/api/v1/vms/${vmId}/backups`, {}],
    ['read backup', 'get', `/api/v1/backups/${backupId}`, undefined],
    ['read backup manifest', 'get', `/api/v1/backups/${backupId}/manifest`, undefined],
    ['download backup disk', 'get', `/api/v1/backups/${backupId}/disks/0`, undefined],
    ['restore backup', 'post', `/api/v1/backups/${backupId}/restore`, { target: 'new', start: false }],
    ['delete backup', 'delete', `/api/v1/backups/${backupId}`, undefined],
    ['read operation', 'get', `/api/v1/operations/${operationId}`, undefined],
    ['wait operation', 'get', `/api/v1/operations/${operationId}/wait?timeout=0`, undefined],
    ['delete VM', 'delete', `/api/v1/vms/${vmId}`, undefined],
  ];

  it('answers anonymous callers 401 on every route', async () => {
    for (const [name, method, path, body] of routes()) {
      const res = await send('anonymous', method, path, body);
      expect([name, res.status]).toEqual([name, 401]);
    }
  });

  it('answers another user 404 on every route, and changes nothing', async () => {
    const before = (await send('owner', 'get', `/api/v1/vms/${vmId}`).expect(200)).body;
    for (const [name, method, path, body] of routes()) {
      const res = await send('other', method, path, body);
      expect([name, res.status, res.body.code]).toEqual([name, 404, 'NOT_FOUND']);
    }
    const after = (await send('owner', 'get', `/api/v1/vms/${vmId}`).expect(200)).body;
    expect(after).toEqual(before);
    const snapshots = await send('owner', 'get', `/api/v1/vms/${vmId}/snapshots`).expect(200);
    expect(snapshots.body.items.map((s: { name: string }) => s.name)).toEqual(['base']);
    const list = await send('other', 'get', '/api/v1/vms').expect(200);
    expect(list.body.items).toEqual([]);
    const ops = await send('other', 'get', '/api/v1/operations').expect(200);
    expect(ops.body.items).toEqual([]);
  });

  it.each<Actor>(['owner', 'admin'])('lets the %s through on every route (never 401/403/404)', async (actor) => {
    for (const [name, method, path, body] of routes().filter(
      ([n]) => !['delete VM', 'delete snapshot', 'delete schedule', 'delete backup'].includes(n),
    )) {
      const named = {
        'create snapshot': { name: `probe-${actor}` },
        'restore backup': { target: 'new', name: `restored-${actor}`, start: false },
      };
      const res = await send(actor, method, path, named[name as keyof typeof named] ?? body);
      expect([name, [401, 403, 404].includes(res.status)]).toEqual([name, false]);
      await settle(res);
    }
    const ownerId = (await send('owner', 'get', '/api/v1/auth/me')).body.id;
    const listed = await send('admin', 'get', `/api/v1/vms?ownerId=${ownerId}`).expect(200);
    // The VM, and the one the owner's restore of its backup made (the admin's restore is the admin's).
    expect(listed.body.items.map((v: { name: string }) => v.name).sort()).toEqual(['guarded', 'restored-owner']);
  });

  it('keeps admin-only image management away from users', async () => {
    expectProblem(await send('owner', 'post', '/api/v1/images/rescan'), 403, 'FORBIDDEN');
    // Users delete only templates of their own: an image they see but did not make is 403, one they cannot see 404.
    const [image] = (await send('owner', 'get', '/api/v1/images').expect(200)).body.items;
    expectProblem(await send('owner', 'delete', `/api/v1/images/${image.id}`), 403, 'FORBIDDEN');
    expectProblem(
      await send('owner', 'patch', `/api/v1/images/${image.id}`, { visibility: 'private' }),
      403,
      'FORBIDDEN',
    );
    expectProblem(
      await send('owner', 'delete', '/api/v1/images/00000000-0000-4000-8000-000000000000'),
      404,
      'NOT_FOUND',
    );
    expectProblem(
      await send('owner', 'get', `/api/v1/users/00000000-0000-4000-8000-000000000000/quota`),
      403,
      'FORBIDDEN',
    );
    await send('admin', 'post', '/api/v1/images/rescan').expect(200);
  });
});
