import { Global, Module } from '@nestjs/common';
import { HostPorts } from './host-ports';

@Global()
@Module({ providers: [HostPorts], exports: [HostPorts] })
export class HostsModule {}
