import { Module } from '@nestjs/common';
import { LibvirtModule } from '@limen/libvirt';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';

/** Provides VIRTUALIZATION_PORT (globally), configured from AppConfig. */
@Module({
  imports: [
    LibvirtModule.forRootAsync({
      inject: [AppConfig, MetricsService],
      useFactory: (config: AppConfig, metrics: MetricsService) => ({
        adapter: config.hypervisor.adapter,
        uri: config.hypervisor.libvirtUri,
        virtType: config.hypervisor.virtType,
        stateDir: config.hypervisor.qemuStateDir,
        onCommand: (command: string, seconds: number, ok: boolean) =>
          metrics.virshDuration.observe({ command, ok: String(ok) }, seconds),
      }),
    }),
  ],
})
export class HypervisorModule {}
