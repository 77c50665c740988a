import { HttpStatus } from '@nestjs/common';
import { AppException, ErrorCode } from '../common/problem';

/** 400 VALIDATION_FAILED naming one field, as the ValidationPipe would. */
export function invalidField(field: string, message: string): AppException {
  return new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, message, {
    errors: [{ field, messages: [message] }],
  });
}
