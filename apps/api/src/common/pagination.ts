import { HttpStatus } from '@nestjs/common';
import { AppException, ErrorCode } from './problem';

export interface CursorPosition {
  /** ISO 8601, as in the DTOs' createdAt. */
  createdAt: string;
  id: string;
}

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url');
}

export function decodeCursor(cursor: string): CursorPosition {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    // Exactly what encodeCursor writes: anything looser could reach PostgreSQL and fail there (a 500).
    if (
      typeof createdAt !== 'string' ||
      !ISO_TIMESTAMP.test(createdAt) ||
      Number.isNaN(Date.parse(createdAt)) ||
      typeof id !== 'string' ||
      !UUID.test(id)
    )
      throw new Error();
    return { createdAt, id };
  } catch {
    throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'cursor is not valid', {
      errors: [{ field: 'cursor', messages: ['cursor is not valid'] }],
    });
  }
}
