import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsString,
  Matches,
  MaxLength,
  Validate,
  ValidateIf,
  ValidationArguments,
  ValidatorConstraint,
  ValidatorConstraintInterface,
} from 'class-validator';
import { TokenPairDto } from '../../auth/dto/token-pair.dto';
import { RECOVERY_CODE_INPUT } from '../totp-codes';

const CODE = /^[0-9]{6}$/;

@ValidatorConstraint({ name: 'notWithCode' })
class NotWithCode implements ValidatorConstraintInterface {
  validate(_value: unknown, args: ValidationArguments): boolean {
    return (args.object as { code?: unknown }).code === undefined;
  }

  defaultMessage(): string {
    return 'send either code or recoveryCode, not both';
  }
}

export class TotpCodeDto {
  /** The 6 digits your authenticator app shows now. */
  @ApiProperty({ example: '123456', pattern: CODE.source })
  @IsString()
  @Matches(CODE, { message: 'code must be the 6 digits your authenticator app shows' })
  code: string;
}

/** A current code, or one of your recovery codes (each works once). */
export class SecondFactorProofDto {
  @ApiPropertyOptional({ example: '123456', pattern: CODE.source, description: 'Or send `recoveryCode` instead.' })
  @ValidateIf((dto: SecondFactorProofDto) => dto.recoveryCode === undefined)
  @IsString()
  @Matches(CODE, { message: 'code must be the 6 digits your authenticator app shows' })
  code?: string;

  @ApiPropertyOptional({ example: 'k7mq2-x4dfr', pattern: RECOVERY_CODE_INPUT.source })
  @ValidateIf((dto: SecondFactorProofDto) => dto.code === undefined || dto.recoveryCode !== undefined)
  @Validate(NotWithCode)
  @IsString()
  @Matches(RECOVERY_CODE_INPUT, { message: 'recoveryCode must be one of your recovery codes (xxxxx-xxxxx)' })
  recoveryCode?: string;
}

export class ChallengeDto {
  /** The `challenge` of the 401 `SECOND_FACTOR_REQUIRED` your sign-in answered. */
  @ApiProperty({ example: 'Zx8q1Jt0bV4mN6sK2pL9rW3yH5cF7dA0eG1iU8oT2kQ' })
  @IsString()
  @MaxLength(128)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'challenge is malformed' })
  challenge: string;
}

export class SecondFactorLoginRequestDto extends SecondFactorProofDto {
  /** The `challenge` of the 401 `SECOND_FACTOR_REQUIRED` your sign-in answered. */
  @ApiProperty({ example: 'Zx8q1Jt0bV4mN6sK2pL9rW3yH5cF7dA0eG1iU8oT2kQ' })
  @IsString()
  @MaxLength(128)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'challenge is malformed' })
  challenge: string;
}

export class TotpEnrolmentDto {
  /** Base32; type it into the app if you cannot scan the QR code. Shown only now. */
  @ApiProperty({ example: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' })
  secret: string;

  @ApiProperty({
    example:
      'otpauth://totp/LIMEN:alice?issuer=LIMEN&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30',
  })
  otpauthUri: string;

  /** The URI as a QR code, an SVG document. */
  @ApiProperty({ example: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 37 37">…</svg>' })
  qrSvg: string;
}

export class RecoveryCodesDto {
  /** Ten codes, each usable once in place of a code; stored only as hashes, shown only now. */
  @ApiProperty({ type: [String], example: ['k7mq2-x4dfr', 'p3wzt-a6nhe'] })
  recoveryCodes: string[];
}

export class SecondFactorLoginDto extends TokenPairDto {
  /** Only when this sign-in completed an enrolment that REQUIRE_2FA demanded: your ten recovery codes. */
  @ApiPropertyOptional({ type: [String], example: ['k7mq2-x4dfr', 'p3wzt-a6nhe'] })
  recoveryCodes?: string[];
}
