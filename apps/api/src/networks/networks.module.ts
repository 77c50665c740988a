import { Module } from '@nestjs/common';
import { NetworkDataModule } from './network-data.module';

/** Networks and NICs: `/api/v1/networks`, a VM's NICs, the hypervisor work they need. */
@Module({
  imports: [NetworkDataModule],
})
export class NetworksModule {}
