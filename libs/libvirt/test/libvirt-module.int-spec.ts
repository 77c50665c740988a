import { Injectable, Inject, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { LibvirtModule, VIRTUALIZATION_PORT, VirtualizationPort } from '../src';

@Injectable()
class Consumer {
  constructor(@Inject(VIRTUALIZATION_PORT) readonly port: VirtualizationPort) {}
}

const SETTINGS = Symbol('SETTINGS');

@Module({ providers: [{ provide: SETTINGS, useValue: { uri: 'qemu:///system' } }], exports: [SETTINGS] })
class SettingsModule {}

describe('LibvirtModule', () => {
  it('provides the configured adapter under VIRTUALIZATION_PORT and closes it on shutdown', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        LibvirtModule.forRootAsync({
          imports: [SettingsModule],
          inject: [SETTINGS],
          useFactory: (settings: { uri: string }) => ({ adapter: 'libvirt', uri: settings.uri, virtType: 'qemu' }),
        }),
      ],
      providers: [Consumer],
    }).compile();
    const app = moduleRef.createNestApplication();
    app.enableShutdownHooks();
    await app.init();
    const caps = await app.get(Consumer).port.getHostCapabilities();
    expect(caps).toMatchObject({ adapter: 'libvirt', defaultVirtType: 'qemu' });
    await app.close();
  });
});
