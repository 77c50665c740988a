import { EventEmitter } from 'node:events';
import { firstValueFrom, take, toArray } from 'rxjs';
import { DatabaseEndpoint } from '../database/database-endpoint';
import { EventRecord } from './event.entity';
import { EventRepository } from './event.repository';
import { EventsService } from './events.service';

/** A stand-in for the listener's pg client: connects, LISTENs, and can be made to lose its connection. */
class FakeListener extends EventEmitter {
  static all: FakeListener[] = [];
  constructor() {
    super();
    FakeListener.all.push(this);
  }
  connect = jest.fn(async () => undefined);
  query = jest.fn(async () => ({ rows: [] }));
  end = jest.fn(async () => undefined);
  watch = jest.fn();
}

jest.mock('../database/bounded-client', () => ({ BoundedClient: jest.fn(() => new FakeListener()) }));

function record(id: string): EventRecord {
  return Object.assign(new EventRecord(), {
    id,
    type: 'vm.state',
    ownerId: 'u1',
    vmId: 'v1',
    payload: { vmId: 'v1', state: 'running', stateReason: null, version: 1 },
    createdAt: new Date(),
  });
}

describe('EventsService with a shared database', () => {
  let log: EventRecord[];
  let service: EventsService;
  let repository: Pick<EventRepository, 'newestId' | 'page' | 'find'> & { page: jest.Mock };

  beforeEach(() => {
    jest.useFakeTimers();
    FakeListener.all = [];
    log = [record('1'), record('2')];
    repository = {
      newestId: async () => log[log.length - 1].id,
      page: jest.fn(async (afterId: string) => log.filter((e) => BigInt(e.id) > BigInt(afterId))),
      find: async (id: string) => log.find((e) => e.id === id) ?? null,
    };
    service = new EventsService(
      repository as unknown as EventRepository,
      { isEmbedded: false, url: 'postgres://db' } as DatabaseEndpoint,
    );
  });

  afterEach(() => jest.useRealTimers());

  it('after the LISTEN connection comes back, delivers the events committed while it was down (their NOTIFYs were lost)', async () => {
    await service.onApplicationBootstrap();
    const received = firstValueFrom(
      service.stream({ id: 'u1', username: 'alice', role: 'user' }).pipe(take(3), toArray()),
    );
    const first = FakeListener.all[0];
    expect(first.query).toHaveBeenCalledWith('LISTEN limen_events');

    // Delivered live: event 3.
    log.push(record('3'));
    first.emit('notification', { payload: '3' });
    await jest.advanceTimersByTimeAsync(0);

    // The connection drops; events 4 and 5 commit before the listener is back, their NOTIFYs lost.
    first.emit('end');
    log.push(record('4'), record('5'));
    await jest.advanceTimersByTimeAsync(1_000);
    expect(FakeListener.all).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(0);

    expect((await received).map((e) => e.id)).toEqual(['3', '4', '5']);
    // The first LISTEN only noted where the log ended: events 1 and 2 predate every stream.
    expect(repository.page).toHaveBeenCalledTimes(1);
    await service.onApplicationShutdown();
  });
});

describe('EventsService streams of one VM', () => {
  const about = (id: string, vmId: string, ownerId = 'u1') => Object.assign(record(id), { vmId, ownerId });

  it('replays with the owner and the VM as the scope, and passes on only that VM’s live events', async () => {
    const page = jest.fn(async () => [about('1', 'v1')]);
    const service = new EventsService({ page } as unknown as EventRepository, { isEmbedded: true } as DatabaseEndpoint);
    const received = firstValueFrom(
      service
        .stream({ id: 'u1', username: 'alice', role: 'user' }, { lastEventId: '0', vmId: 'v1' })
        .pipe(take(3), toArray()),
    );
    // Announced while the replay runs: they wait for it, and only v1's of alice's go out.
    service.announce([about('2', 'v2'), about('3', 'v1', 'u2'), about('4', 'v1'), about('5', 'v1')]);
    expect((await received).map((e) => e.id)).toEqual(['1', '4', '5']);
    expect(page).toHaveBeenCalledWith('0', 1000, { ownerId: 'u1', vmId: 'v1' });
  });
});
