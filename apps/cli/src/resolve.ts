import { type components, type LimenClient, unwrap } from '@limen/sdk';
import { CliError, EXIT } from './exit-codes';

type Vm = components['schemas']['VmDto'];
type Image = components['schemas']['ImageDto'];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A VM named by its id or its name (names are unique per owner). */
export async function findVm(client: LimenClient, idOrName: string): Promise<Vm> {
  if (UUID.test(idOrName)) return unwrap(client.GET('/api/v1/vms/{id}', { params: { path: { id: idOrName } } }));
  const page = await unwrap(client.GET('/api/v1/vms', { params: { query: { name: idOrName, limit: 2 } } }));
  if (page.items.length === 1) return page.items[0];
  if (page.items.length === 0) throw new CliError('NOT_FOUND', `no VM named ${idOrName}`, EXIT.NOT_FOUND);
  throw new CliError(
    'AMBIGUOUS',
    `several VMs are named ${idOrName} (an admin sees all users'): use its id`,
    EXIT.USAGE,
  );
}

/** An image named by its id or its name. */
export async function findImage(client: LimenClient, idOrName: string): Promise<Image> {
  if (UUID.test(idOrName)) return unwrap(client.GET('/api/v1/images/{id}', { params: { path: { id: idOrName } } }));
  for (const image of await allPages((cursor) =>
    client.GET('/api/v1/images', { params: { query: { limit: 500, cursor } } }),
  ))
    if (image.name === idOrName) return image;
  throw new CliError('NOT_FOUND', `no image named ${idOrName}`, EXIT.NOT_FOUND);
}

interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

/** Every item of a cursor-paged list, up to `max`. */
export async function allPages<T>(
  fetchPage: (cursor: string | undefined) => Promise<{ data?: Page<T>; error?: unknown; response: Response }>,
  max = 10_000,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(fetchPage(cursor));
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && items.length < max);
  return items.slice(0, max);
}

export function parseInteger(name: string, min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max)
      throw new CliError(
        'USAGE',
        `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
        EXIT.USAGE,
      );
    return parsed;
  };
}
