import { experimental_streamedQuery as streamedQuery, queryOptions, useQuery } from '@tanstack/react-query';
import type { components } from '@limen/sdk';
import { api } from '../auth/session';
import { unwrap } from './problem';

export type Vm = components['schemas']['VmDto'];
export type Operation = components['schemas']['OperationDto'];
export type User = components['schemas']['UserDto'];

const PAGE = 500;
// A streamed list's first page: a tall screen's rows and the virtualiser's overscan, so the first
// rows wait for a small response; the pages after it are full ones.
const FIRST_PAGE = 100;

/** Every page of a cursor-paginated list (`{items, nextCursor}`), up to `max` items. */
async function allPages<T>(
  page: (cursor?: string) => Promise<{ items: T[]; nextCursor?: string | null }>,
  max = 10_000,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const next = await page(cursor);
    items.push(...next.items);
    cursor = next.nextCursor ?? undefined;
  } while (cursor && items.length < max);
  return items;
}

/** The pages of a cursor-paginated list one after another (FIRST_PAGE items, then PAGE), up to `max` items. */
async function* pages<T>(
  page: (limit: number, cursor?: string) => Promise<{ items: T[]; nextCursor?: string | null }>,
  max = 10_000,
): AsyncGenerator<T[]> {
  let cursor: string | undefined;
  let count = 0;
  do {
    const next = await page(count ? PAGE : FIRST_PAGE, cursor);
    yield next.items;
    count += next.items.length;
    cursor = next.nextCursor ?? undefined;
  } while (cursor && count < max);
}

/**
 * All VMs the caller may see (admins: everyone's), kept current by the event stream (api/live.ts).
 * The first (small) page shows as soon as it arrives and later pages are appended behind it; a refetch
 * keeps the list on screen and swaps in the new one when its last page is in.
 */
export const vmsQuery = queryOptions({
  queryKey: ['vms'],
  queryFn: streamedQuery({
    streamFn: ({ signal }) =>
      pages(async (limit, cursor) =>
        unwrap(await api.GET('/api/v1/vms', { params: { query: { limit, cursor } }, signal })),
      ),
    reducer: (vms: Vm[], page: Vm[]) => [...vms, ...page],
    initialValue: [],
    refetchMode: 'replace',
  }),
});

export const useVms = () => useQuery(vmsQuery);

export const useVm = (id: string) =>
  useQuery({
    queryKey: ['vm', id],
    queryFn: async () => unwrap(await api.GET('/api/v1/vms/{id}', { params: { path: { id } } })),
  });

export const useUsers = (enabled = true) =>
  useQuery({
    queryKey: ['users'],
    enabled,
    queryFn: () =>
      allPages(async (cursor) =>
        unwrap(await api.GET('/api/v1/users', { params: { query: { limit: PAGE, cursor } } })),
      ),
  });

/** An operation, refetched every 2 s until it has ended (events also refresh it at once). */
export const useOperation = (id: string | undefined) =>
  useQuery({
    queryKey: ['operation', id],
    enabled: Boolean(id),
    queryFn: async () => unwrap(await api.GET('/api/v1/operations/{id}', { params: { path: { id: id! } } })),
    refetchInterval: (query) => {
      const status = query.state.data?.status;
      return status === 'pending' || status === 'running' || !status ? 2000 : false;
    },
  });
