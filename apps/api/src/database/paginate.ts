import { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { decodeCursor, encodeCursor } from '../common/pagination';

/**
 * Keyset pagination over (createdAt, id), newest first. Stable under inserts,
 * and each page costs one index range scan however deep the client goes.
 */
export async function paginate<T extends ObjectLiteral & { id: string; createdAt: Date }>(
  query: SelectQueryBuilder<T>,
  page: PageQueryDto,
): Promise<{ items: T[]; nextCursor: string | null }> {
  const alias = query.alias;
  if (page.cursor) {
    const position = decodeCursor(page.cursor);
    query.andWhere(`(${alias}.createdAt, ${alias}.id) < (:cursorCreatedAt, :cursorId)`, {
      cursorCreatedAt: position.createdAt,
      cursorId: position.id,
    });
  }
  const rows = await query
    .orderBy(`${alias}.createdAt`, 'DESC')
    .addOrderBy(`${alias}.id`, 'DESC')
    .take(page.limit + 1)
    .getMany();
  const items = rows.slice(0, page.limit);
  const last = items[items.length - 1];
  const nextCursor =
    rows.length > page.limit && last ? encodeCursor({ createdAt: last.createdAt.toISOString(), id: last.id }) : null;
  return { items, nextCursor };
}
