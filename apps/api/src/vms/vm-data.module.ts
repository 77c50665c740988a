import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventsModule } from '../events/events.module';
import { Vm } from './vm.entity';
import { VmRepository } from './vm.repository';
import { VmPageCache } from './vm-page-cache';
import { VmStateWriter } from './vm-state-writer';

/**
 * The `vms` table's owner and the one writer of VM state, apart from VmsModule so that modules
 * VmsModule itself depends on (hosts, quotas) can read VMs without an import cycle.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Vm]), EventsModule],
  providers: [VmRepository, VmPageCache, VmStateWriter],
  exports: [VmRepository, VmStateWriter],
})
export class VmDataModule {}
