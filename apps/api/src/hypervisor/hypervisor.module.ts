import { Module } from '@nestjs/common';
import { LibvirtModule } from '@limen/libvirt';
import { AppConfig } from '../config/app-config';

/** Provides VIRTUALIZATION_PORT (globally), configured from AppConfig. */
@Module({
  imports: [
    LibvirtModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        adapter: config.hypervisor.adapter,
        uri: config.hypervisor.libvirtUri,
        virtType: config.hypervisor.virtType,
        stateDir: config.hypervisor.qemuStateDir,
      }),
    }),
  ],
})
export class HypervisorModule {}
