import {
  DynamicModule,
  Inject,
  Injectable,
  Logger,
  Module,
  ModuleMetadata,
  OnApplicationShutdown,
  Type,
} from '@nestjs/common';
import { createVirtualizationPort } from './port/create-virtualization-port';
import { VirtualizationPortOptions } from './port/port-options';
import { VIRTUALIZATION_PORT, VirtualizationPort } from './port/virtualization-port';

export interface LibvirtModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  // Nest's own signature for factory providers: injected values are untyped.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  useFactory: (...args: any[]) => VirtualizationPortOptions | Promise<VirtualizationPortOptions>;
  inject?: Array<string | symbol | Type>;
  /** Make VIRTUALIZATION_PORT injectable everywhere without importing the module. Default true. */
  isGlobal?: boolean;
}

const LIBVIRT_MODULE_OPTIONS = Symbol('LIBVIRT_MODULE_OPTIONS');

/** Closes virsh sessions, the event watcher and QMP connections when the app stops. */
@Injectable()
class VirtualizationPortCloser implements OnApplicationShutdown {
  constructor(@Inject(VIRTUALIZATION_PORT) private readonly port: VirtualizationPort) {}

  async onApplicationShutdown(): Promise<void> {
    await this.port.close();
  }
}

@Module({})
export class LibvirtModule {
  static forRootAsync(options: LibvirtModuleAsyncOptions): DynamicModule {
    return {
      module: LibvirtModule,
      global: options.isGlobal ?? true,
      imports: options.imports ?? [],
      providers: [
        { provide: LIBVIRT_MODULE_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
        {
          provide: VIRTUALIZATION_PORT,
          useFactory: (portOptions: VirtualizationPortOptions) =>
            createVirtualizationPort({ ...portOptions, logger: portOptions.logger ?? new Logger('Virtualization') }),
          inject: [LIBVIRT_MODULE_OPTIONS],
        },
        VirtualizationPortCloser,
      ],
      exports: [VIRTUALIZATION_PORT],
    };
  }
}
