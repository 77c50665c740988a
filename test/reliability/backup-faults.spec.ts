import { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOUD_IMAGE_NAME, provideCloudImage } from '../support/cloud-image';
import { agentCommand, waitForAgent } from '../support/guest-agent';
import { hypervisorSandbox, restartLibvirtd, virsh } from '../support/hypervisor';
import { ApiProcess, createDatabase, exited, MAIN, onServer, startApiProcess, until } from '../support/api-process';
import { ADMIN } from '../support/test-app';

/**
 * Issue 16: killing the api or libvirtd in the middle of a backup leaves no half-written backup
 * listed and no frozen guest. The guest is the Debian cloud image (it has a guest agent, so backups
 * freeze its filesystems); the api is the built artifact, SIGKILLed and started again.
 */

const AGENT_DEADLINE_MS = Number(process.env.COPIES_GUEST_TIMEOUT_S ?? 420) * 1000;

jest.setTimeout(AGENT_DEADLINE_MS + 900_000);

interface Backup {
  id: string;
  state: string;
  disks?: Array<{ position: number; sha256: string }>;
}

describe('a backup interrupted by a killed api or libvirtd (Debian guest with its agent)', () => {
  let database: Awaited<ReturnType<typeof createDatabase>>;
  let sandbox: ReturnType<typeof hypervisorSandbox>;
  let dataDir: string;
  let api: ApiProcess;
  let token: string;
  let vmId: string;
  const started: ChildProcess[] = [];

  async function startApi(): Promise<ApiProcess> {
    api = await startApiProcess({
      ...sandbox.env,
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: 'warn',
      RECONCILE_INTERVAL_SECONDS: '2',
      AUTOSTART_MAX_ATTEMPTS: '0',
    });
    started.push(api.child);
    token = (await call('POST', '/api/v1/auth/login', { username: ADMIN.username, password: ADMIN.password }, false))
      .body.accessToken;
    return api;
  }

  async function call(method: string, path: string, body?: unknown, auth = true) {
    const res = await fetch(`${api.base}${path}`, {
      method,
      headers: {
        ...(auth ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(90_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, location: res.headers.get('location') };
  }

  async function settle(location: string, timeoutMs = 600_000) {
    return until(
      `operation ${location} to end`,
      async () => {
        const op = (await call('GET', `${location}/wait?timeout=30`)).body;
        return op.status === 'succeeded' || op.status === 'failed' ? op : undefined;
      },
      timeoutMs,
      500,
    );
  }

  const frozenState = () => agentCommand<string>(vmId, { execute: 'guest-fsfreeze-status' }, 10);

  /** Every listed backup is complete: ready, with files on disk whose digests match its manifest. */
  async function listedBackupsAreWhole(): Promise<Backup[]> {
    const listed = (await call('GET', `/api/v1/vms/${vmId}/backups`)).body.items as Backup[];
    for (const backup of listed) {
      expect(backup.state).toBe('ready');
      const manifest = (await call('GET', `/api/v1/backups/${backup.id}/manifest`)).body as {
        disks: Array<{ file: string; sha256: string }>;
      };
      for (const disk of manifest.disks) {
        const bytes = readFileSync(join(dataDir, 'backups', backup.id, disk.file));
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(disk.sha256);
      }
    }
    return listed;
  }

  /** Folders in the store that belong to no listed backup: none once the sweep has run. */
  const strayFolders = (listed: Backup[]) =>
    readdirSync(join(dataDir, 'backups')).filter((name) => !listed.some((b) => b.id === name));

  /** Starts a backup and resolves once its operation is running on the hypervisor. */
  async function backupUnderWay(): Promise<{ backupId: string; operationId: string }> {
    const res = await call('POST', `/api/v1/vms/${vmId}/backups`, {});
    expect(res.status).toBe(202);
    const operationId = res.body.operation.id as string;
    await until(
      'the backup operation to run',
      async () => (await call('GET', `/api/v1/operations/${operationId}`)).body.status === 'running',
      60_000,
      50,
    );
    // Into the copy: the guest was frozen and thawed, and the disks are being read.
    await new Promise((r) => setTimeout(r, 1500));
    return { backupId: res.body.backup.id, operationId };
  }

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
    database = await createDatabase();
    sandbox = hypervisorSandbox();
    dataDir = mkdtempSync(join(tmpdir(), 'limen-backup-faults-'));
    provideCloudImage(sandbox.imageDir);
    await startApi();
    await call('POST', '/api/v1/images/rescan');
    const images = (await call('GET', '/api/v1/images')).body.items as Array<{ id: string; name: string }>;
    const imageId = images.find((i) => i.name === CLOUD_IMAGE_NAME)!.id;
    const created = await call('POST', '/api/v1/vms', {
      name: 'backup-faults',
      vcpus: 1,
      memoryMiB: 512,
      diskGiB: 3,
      imageId,
    });
    vmId = created.body.vm.id;
    expect((await settle(created.location!)).status).toBe('succeeded');
    await waitForAgent(vmId, AGENT_DEADLINE_MS);
  });

  afterAll(async () => {
    for (const child of started)
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited(child);
      }
    if (vmId) {
      virsh('destroy', `limen-${vmId}`);
      virsh('undefine', `limen-${vmId}`, '--snapshots-metadata');
    }
    await database?.drop();
    sandbox?.cleanup();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('api SIGKILLed mid-backup (the guest left frozen as by a kill inside the freeze): after the restart the guest is thawed and only whole backups are listed', async () => {
    const { operationId } = await backupUnderWay();
    api.child.kill('SIGKILL');
    await exited(api.child);
    // The worst moment to die is between freeze and thaw: put the guest in that state by hand.
    await agentCommand(vmId, { execute: 'guest-fsfreeze-freeze' }, 30);
    expect(await frozenState()).toBe('frozen');
    await startApi();
    const op = await settle(`/api/v1/operations/${operationId}`);
    console.log(`[backup-faults] after the api kill the backup operation ${op.status}: ${JSON.stringify(op.error)}`);
    await until('the guest to be thawed', async () => (await frozenState()) === 'thawed', 120_000, 1000);
    const listed = await until(
      'stray backup folders to be swept',
      async () => {
        const whole = await listedBackupsAreWhole();
        return strayFolders(whole).length === 0 ? whole : undefined;
      },
      120_000,
      1000,
    );
    expect(
      (
        await onServer<{ n: number }>(
          `SELECT count(*)::int AS n FROM backups WHERE state = 'creating'`,
          [],
          database.url,
        )
      )[0].n,
    ).toBe(0);
    console.log(`[backup-faults] listed after the api kill: ${listed.length}`);
  });

  it('libvirtd restarted mid-backup: the operation ends, the guest is thawed, and only whole backups are listed', async () => {
    const { operationId } = await backupUnderWay();
    const outage = await restartLibvirtd();
    const op = await settle(`/api/v1/operations/${operationId}`);
    console.log(
      `[backup-faults] libvirtd back after ${outage} ms; the backup operation ${op.status}: ${JSON.stringify(op.error)}`,
    );
    await until('the guest to be thawed', async () => (await frozenState()) === 'thawed', 120_000, 1000);
    const listed = await until(
      'stray backup folders to be swept',
      async () => {
        const whole = await listedBackupsAreWhole();
        return strayFolders(whole).length === 0 ? whole : undefined;
      },
      180_000,
      1000,
    );
    // The VM's pool holds no leftover backup targets.
    expect(readdirSync(sandbox.vmDir).filter((name) => name.includes('-backup-'))).toEqual([]);
    // And a backup works again afterwards.
    const again = await call('POST', `/api/v1/vms/${vmId}/backups`, {});
    expect((await settle(again.location!)).status).toBe('succeeded');
    expect((await listedBackupsAreWhole()).length).toBe(listed.length + 1);
  });
});
