import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UsersModule } from '../users/users.module';
import { LoginChallenges } from './login-challenges';
import { SecondFactorChallenge } from './second-factor-challenge.entity';
import { SecondFactorChallengeRepository } from './second-factor-challenge.repository';
import { SecondFactorService } from './second-factor.service';
import { TotpCodes } from './totp-codes';
import { TotpController } from './totp.controller';
import { UserTotp } from './user-totp.entity';
import { UserTotpRepository } from './user-totp.repository';
import { UserTotpController } from './user-totp.controller';

/** The TOTP second factor; AuthModule asks LoginChallenges whether a sign-in needs it. */
@Module({
  imports: [UsersModule, TypeOrmModule.forFeature([UserTotp, SecondFactorChallenge])],
  controllers: [TotpController, UserTotpController],
  providers: [TotpCodes, UserTotpRepository, SecondFactorChallengeRepository, SecondFactorService, LoginChallenges],
  exports: [LoginChallenges],
})
export class SecondFactorModule {}
