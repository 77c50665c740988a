import { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { journey } from '../libs/sdk/examples/journey';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

/** The generated client's journey (libs/sdk/examples/journey.ts), run against the real app on a loopback port. */
describe('the typed SDK (e2e)', () => {
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (t) {
      for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
        virsh('destroy', `limen-${id}`);
        virsh('undefine', `limen-${id}`, '--snapshots-metadata');
      }
      await t.close();
    }
  });

  it('contract 12.5: the journey of the generated client (create, wait, actions, snapshot, delete) works against the app', async () => {
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    const user = await createUser(t.http, admin.accessToken, 'sdk-user');
    const lines = await journey({
      baseUrl: base,
      username: 'sdk-user',
      password: user.password,
      imageName: KERNEL_IMAGE_NAME,
    });
    expect(lines).toEqual([
      expect.stringMatching(/^created journey-[a-z0-9]+: \/api\/v1\/operations\/[0-9a-f-]{36}$/),
      'vm.create succeeded',
      'stop: stopped',
      'start: running',
      'snapshots: before-delete (ready)',
      'vm.delete succeeded',
      'afterwards: 404 NOT_FOUND',
    ]);
  });
});
