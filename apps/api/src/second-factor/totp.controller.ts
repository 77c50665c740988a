import { Body, Controller, Delete, HttpCode, Ip, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { RecoveryCodesDto, SecondFactorProofDto, TotpCodeDto, TotpEnrolmentDto } from './dto/second-factor.dto';
import { SecondFactorService } from './second-factor.service';

const PROOF_EXAMPLES = {
  code: {
    summary: 'A current code',
    description:
      'A code from your app, of a later 30 s step than the last one accepted; without an enabled factor it is `CONFLICT`, a wrong one `INVALID_SECOND_FACTOR`.',
    value: { code: '123456' },
  },
  recoveryCode: {
    summary: 'A recovery code',
    description: 'Each works once; without an enabled factor it is `CONFLICT`, a wrong one `INVALID_SECOND_FACTOR`.',
    value: { recoveryCode: 'k7mq2-x4dfr' },
  },
};

/** Your TOTP second factor (RFC 6238): enrol, confirm, new recovery codes, disable. */
@ApiTags('auth')
@ApiBearerAuth()
@ApiProblems(400, 401, 409, 429)
@Controller({ path: 'auth/totp', version: '1' })
export class TotpController {
  constructor(private readonly secondFactor: SecondFactorService) {}

  /**
   * Start an enrolment: a new secret for your authenticator app (its otpauth:// URI and a QR code).
   * It takes effect once confirmed with a code; an enabled factor must be disabled first (409).
   */
  @Post()
  @HttpCode(200)
  enrol(@CurrentUser() user: AuthUser): Promise<TotpEnrolmentDto> {
    return this.secondFactor.enrol(user.id, user.username);
  }

  /** Confirm the enrolment with a code from the app: the factor is on, and here are your ten recovery codes. */
  @Post('confirm')
  @HttpCode(200)
  @ApiBody({
    type: TotpCodeDto,
    examples: {
      confirm: {
        summary: 'Confirm with a code',
        description:
          'A code from the app you just set up; with no enrolment waiting it is `CONFLICT`, a wrong code `INVALID_SECOND_FACTOR`.',
        value: { code: '123456' },
      },
    },
  })
  async confirm(@CurrentUser() user: AuthUser, @Body() dto: TotpCodeDto): Promise<RecoveryCodesDto> {
    return { recoveryCodes: await this.secondFactor.confirm(user.id, dto.code) };
  }

  /** Ten new recovery codes (the old ones stop working), with a current code or a recovery code. Wrong ones count in the login lock-out. */
  @Post('recovery-codes')
  @HttpCode(200)
  @ApiBody({ type: SecondFactorProofDto, examples: PROOF_EXAMPLES })
  async renewRecoveryCodes(
    @CurrentUser() user: AuthUser,
    @Body() dto: SecondFactorProofDto,
    @Ip() ip: string,
  ): Promise<RecoveryCodesDto> {
    return { recoveryCodes: await this.secondFactor.renewRecoveryCodes(user.id, user.username, dto, ip) };
  }

  /** Turn the second factor off, with a current code or a recovery code. Wrong ones count in the login lock-out. */
  @Delete()
  @HttpCode(204)
  @ApiBody({ type: SecondFactorProofDto, examples: PROOF_EXAMPLES })
  async disable(@CurrentUser() user: AuthUser, @Body() dto: SecondFactorProofDto, @Ip() ip: string): Promise<void> {
    await this.secondFactor.disable(user.id, user.username, dto, ip);
  }
}
