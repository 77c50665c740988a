import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VmDisk } from './vm-disk.entity';
import { VmDiskRepository } from './vm-disk.repository';

/**
 * The owner of the `vm_disks` table, apart from the disks routes so that VmsModule can write a
 * new VM's boot disk in its create transaction without an import cycle.
 */
@Module({
  imports: [TypeOrmModule.forFeature([VmDisk])],
  providers: [VmDiskRepository],
  exports: [VmDiskRepository],
})
export class DiskDataModule {}
