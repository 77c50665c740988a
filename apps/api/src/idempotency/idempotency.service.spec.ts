import { FakeTransactions } from '../database/testing/fake-transactions';
import { IdempotencyService } from './idempotency.service';
import { IdempotentReplay } from './resource-response';
import { FakeIdempotencyKeyRepository } from './testing/fake-idempotency-key-repository';

const accepted = { vm: { id: 'vm-1', version: 1 }, operation: { id: 'op-1' } };

function world() {
  const keys = new FakeIdempotencyKeyRepository();
  const service = new IdempotencyService(keys.asRepository, new FakeTransactions(keys.rows).asTransactions);
  const work = jest.fn(async () => accepted);
  return { keys, service, work };
}

async function replayOf(promise: Promise<unknown>): Promise<IdempotentReplay> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(IdempotentReplay);
  return error as IdempotentReplay;
}

describe('IdempotencyService', () => {
  const request = { key: 'k-1', fingerprint: 'POST /api/v1/vms {"name":"a"}' };

  it('without a key, runs the work and records nothing', async () => {
    const { service, keys, work } = world();
    expect(await service.execute('alice', undefined, work)).toBe(accepted);
    expect(await service.execute('alice', undefined, work)).toBe(accepted);
    expect(work).toHaveBeenCalledTimes(2);
    expect(keys.rows.size).toBe(0);
  });

  it('records the response the result gets, in the work’s transaction', async () => {
    const { service, keys, work } = world();
    expect(await service.execute('alice', request, work)).toBe(accepted);
    expect(await keys.find('alice', 'k-1')).toEqual({
      fingerprint: request.fingerprint,
      response: { statusCode: 202, body: accepted, location: '/api/v1/operations/op-1' },
    });
  });

  it('replays the first response to the same key and request, without running the work again', async () => {
    const { service, work } = world();
    await service.execute('alice', request, work);
    const replay = await replayOf(service.execute('alice', request, work));
    expect(replay.response).toEqual({ statusCode: 202, body: accepted, location: '/api/v1/operations/op-1' });
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('refuses the key with a different request (422 IDEMPOTENCY_KEY_REUSED); keys are per user', async () => {
    const { service, work } = world();
    await service.execute('alice', request, work);
    await expect(
      service.execute('alice', { ...request, fingerprint: 'POST /api/v1/vms {"name":"b"}' }, work),
    ).rejects.toMatchObject({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED' });
    await expect(service.execute('bob', request, work)).resolves.toBe(accepted);
  });

  it('keeps no key for a request whose work failed: the retry runs', async () => {
    const { service, keys, work } = world();
    work.mockRejectedValueOnce(new Error('quota'));
    await expect(service.execute('alice', request, work)).rejects.toThrow('quota');
    expect(keys.rows.size).toBe(0);
    await expect(service.execute('alice', request, work)).resolves.toBe(accepted);
  });

  it('a duplicate that lost the race for the key (unique violation) replays the winner’s response', async () => {
    const { service, keys, work } = world();
    await service.execute('alice', request, work);
    // It read before the winner committed, so it saw no key, then queued on the winner's claim.
    jest.spyOn(keys, 'find').mockResolvedValueOnce(null);
    const replay = await replayOf(service.execute('alice', request, work));
    expect(replay.response.location).toBe('/api/v1/operations/op-1');
    expect(work).toHaveBeenCalledTimes(1);
  });
});
