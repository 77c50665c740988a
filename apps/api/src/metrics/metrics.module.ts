import { Global, Module } from '@nestjs/common';
import { AlertDataModule } from '../alerting/alert-data.module';
import { VmDataModule } from '../vms/vm-data.module';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Global()
@Module({
  imports: [VmDataModule, AlertDataModule],
  controllers: [MetricsController],
  providers: [MetricsService],
  exports: [MetricsService],
})
export class MetricsModule {}
