import { HttpStatus, ValidationError, ValidationPipe } from '@nestjs/common';
import { ValidateIf } from 'class-validator';
import { AppException, ErrorCode, FieldError } from './problem';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own: FieldError[] = error.constraints ? [{ field, messages: Object.values(error.constraints) }] : [];
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/** The global pipe: unknown fields are refused, and failures become 400 VALIDATION_FAILED with per-field errors. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    // Values never echo back: a hostile or secret input stays out of responses and logs.
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const fieldErrors = flatten(errors);
      return new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.VALIDATION_FAILED,
        `Validation failed for ${fieldErrors.map((e) => e.field).join(', ') || 'the request'}`,
        { errors: fieldErrors },
      );
    },
  });
}

/**
 * Like @IsOptional(), but only an absent field is skipped: an explicit `null` must still pass the
 * field's other validators. For fields whose column is NOT NULL (a null there would be a 500).
 */
export const IsOptionalNotNull = (): PropertyDecorator => ValidateIf((_object, value) => value !== undefined);
