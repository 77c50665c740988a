import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SshKey } from './ssh-key.entity';
import { SshKeyRepository } from './ssh-key.repository';
import { SshKeysController } from './ssh-keys.controller';
import { SshKeysService } from './ssh-keys.service';

@Module({
  imports: [TypeOrmModule.forFeature([SshKey])],
  controllers: [SshKeysController],
  providers: [SshKeyRepository, SshKeysService],
  exports: [SshKeysService],
})
export class SshKeysModule {}
