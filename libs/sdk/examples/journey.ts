/**
 * A client's whole journey with the generated SDK: sign in, create a VM, wait for it, act on it,
 * snapshot it, delete it. scripts/check-sdk.sh type-checks it under --strict (no casts: bodies,
 * headers and problem codes come from the spec); test/sdk-journey.e2e-spec.ts runs it.
 *
 *   LIMEN_URL=http://127.0.0.1:18443 LIMEN_USER=alice LIMEN_PASSWORD=... npx ts-node libs/sdk/examples/journey.ts
 */
import { randomUUID } from 'node:crypto';
import { createLimenClient, type ErrorCode, type Operation, waitForOperation } from '../src';

export interface JourneyOptions {
  baseUrl: string;
  username: string;
  password: string;
  /** The image to boot: its name in GET /api/v1/images. */
  imageName: string;
  log?: (line: string) => void;
}

/** What a problem code asks of the caller; the switch covers the catalogue the spec publishes. */
function advice(code: ErrorCode): string {
  switch (code) {
    case 'QUOTA_EXCEEDED':
      return 'free some quota first';
    case 'OPERATION_IN_PROGRESS':
      return 'wait for the running operation';
    case 'RATE_LIMITED':
      return 'slow down (see Retry-After)';
    default:
      return 'see the problem detail';
  }
}

function succeeded(operation: Operation): Operation {
  if (operation.status !== 'succeeded')
    throw new Error(
      `${operation.kind} ${operation.status}: ${operation.error?.code ?? ''} ${operation.error?.detail ?? ''}`,
    );
  return operation;
}

export async function journey(options: JourneyOptions): Promise<string[]> {
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    options.log?.(line);
  };

  const anonymous = createLimenClient(options.baseUrl);
  const signIn = await anonymous.POST('/api/v1/auth/login', {
    body: { username: options.username, password: options.password },
  });
  if (signIn.error) throw new Error(`sign-in refused: ${signIn.error.code} (${advice(signIn.error.code)})`);
  const token = signIn.data.accessToken;
  const api = createLimenClient(options.baseUrl, () => token);

  const images = await api.GET('/api/v1/images', { params: { query: { limit: 500 } } });
  if (images.error) throw new Error(`images: ${images.error.code}`);
  const image = images.data.items.find((candidate) => candidate.name === options.imageName && candidate.available);
  if (!image) throw new Error(`no available image named ${options.imageName}`);

  const created = await api.POST('/api/v1/vms', {
    params: { header: { 'Idempotency-Key': randomUUID() } },
    body: {
      name: `journey-${Date.now().toString(36)}`,
      vcpus: 1,
      memoryMiB: 128,
      diskGiB: 1,
      imageId: image.id,
      description: 'the SDK journey',
    },
  });
  if (created.error) throw new Error(`create refused: ${created.error.code} (${advice(created.error.code)})`);
  const vm = created.data.vm;
  log(`created ${vm.name}: ${created.response.headers.get('Location')}`);
  log(`vm.create ${succeeded(await waitForOperation(api, created.data.operation.id)).status}`);

  for (const action of ['stop', 'start'] as const) {
    const acted = await api.POST('/api/v1/vms/{id}/actions', {
      params: { path: { id: vm.id }, header: { 'Idempotency-Key': randomUUID() } },
      body: { action },
    });
    if (acted.error) throw new Error(`${action} refused: ${acted.error.code} (${advice(acted.error.code)})`);
    succeeded(await waitForOperation(api, acted.data.operation.id));
    const read = await api.GET('/api/v1/vms/{id}', { params: { path: { id: vm.id } } });
    if (read.error) throw new Error(`read: ${read.error.code}`);
    log(`${action}: ${read.data.state}`);
  }

  const snapshot = await api.POST('/api/v1/vms/{vmId}/snapshots', {
    params: { path: { vmId: vm.id } },
    body: { name: 'before-delete' },
  });
  if (snapshot.error) throw new Error(`snapshot refused: ${snapshot.error.code} (${advice(snapshot.error.code)})`);
  succeeded(await waitForOperation(api, snapshot.data.operation.id));
  const snapshots = await api.GET('/api/v1/vms/{vmId}/snapshots', { params: { path: { vmId: vm.id } } });
  if (snapshots.error) throw new Error(`snapshots: ${snapshots.error.code}`);
  log(`snapshots: ${snapshots.data.items.map((s) => `${s.name} (${s.state})`).join(', ')}`);

  const removed = await api.DELETE('/api/v1/vms/{id}', { params: { path: { id: vm.id } } });
  if (removed.error) throw new Error(`delete refused: ${removed.error.code} (${advice(removed.error.code)})`);
  log(`vm.delete ${succeeded(await waitForOperation(api, removed.data.operation.id)).status}`);
  const gone = await api.GET('/api/v1/vms/{id}', { params: { path: { id: vm.id } } });
  log(`afterwards: ${gone.response.status} ${gone.error?.code ?? 'still there'}`);
  return lines;
}

if (require.main === module) {
  const env = (name: string): string => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
  };
  journey({
    baseUrl: env('LIMEN_URL'),
    username: env('LIMEN_USER'),
    password: env('LIMEN_PASSWORD'),
    imageName: process.env.LIMEN_IMAGE ?? 'tiny-guest',
    log: (line) => process.stdout.write(`${line}\n`),
  }).catch((error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
}
