/** NUL and unpaired surrogates: PostgreSQL cannot store the first, and jsonb refuses the second. */
// eslint-disable-next-line no-control-regex -- NUL is what it finds
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function storableText(text: string): string {
  return text.replace(UNSTORABLE, '\ufffd');
}

/** The same for every string (and key) of a JSON value bound for a jsonb column. */
export function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [storableText(key), storableJson(item)]));
  }
  return value;
}

/** What fitting a value needs to know of its column (a subset of TypeORM's ColumnMetadata). */
export interface ColumnShape {
  propertyName: string;
  /** '' when unbounded. */
  length: string;
  type: unknown;
}

/**
 * The record as its columns can hold it. Hostile requests are the ones most worth recording, and
 * their values come from the request (path ids, usernames, body fields): a NUL, which PostgreSQL
 * text and jsonb cannot store, an unpaired surrogate, which jsonb refuses, or an id longer than
 * its column failed the insert and lost the record. Found by
 * test/reliability/property-http-surface.spec.ts.
 */
export function fitToColumns<T extends object>(record: T, columns: readonly ColumnShape[]): T {
  const fitted: Record<string, unknown> = { ...(record as Record<string, unknown>) };
  for (const column of columns) {
    const value = fitted[column.propertyName];
    if (typeof value === 'string')
      fitted[column.propertyName] = column.length
        ? Array.from(storableText(value)).slice(0, Number(column.length)).join('')
        : storableText(value);
    else if (value !== null && typeof value === 'object' && column.type === 'jsonb')
      fitted[column.propertyName] = storableJson(value);
  }
  return fitted as T;
}
