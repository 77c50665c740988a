import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { CreateHostDto, UpdateHostDto } from './host.dto';

const errorsFor = (stateDir: string) =>
  validateSync(
    plainToInstance(CreateHostDto, {
      name: 'h',
      adapter: 'qemu-direct',
      stateDir,
      agentToken: 'a-token-for-this-host',
    }),
  ).filter((e) => e.property === 'stateDir');

describe('CreateHostDto.stateDir', () => {
  it.each(['/var/lib/limen/qemu-direct', '/srv/limen.d/state', '/a/..b/c.', '/'])('accepts %s', (dir) => {
    expect(errorsFor(dir)).toEqual([]);
  });

  it.each(['/../../etc', '/var/lib/../../etc', '/var/./lib', '/var/lib/..', 'relative/path', '/var/lib\n'])(
    'refuses %j',
    (dir) => {
      expect(errorsFor(dir)).toHaveLength(1);
    },
  );
});

describe('UpdateHostDto', () => {
  const fieldsWithErrors = (body: object) => validateSync(plainToInstance(UpdateHostDto, body)).map((e) => e.property);

  it('refuses null for fields that cannot be empty (found by the HTTP property test: a 500)', () => {
    expect(fieldsWithErrors({ enabled: null, maintenance: null, agentToken: null }).sort()).toEqual([
      'agentToken',
      'enabled',
      'maintenance',
    ]);
  });

  it('still treats absent fields as unchanged and accepts a null agentUrl (no agent)', () => {
    expect(fieldsWithErrors({})).toEqual([]);
    expect(fieldsWithErrors({ enabled: false, agentUrl: null })).toEqual([]);
  });
});

describe('CreateHostDto.libvirtUri', () => {
  const errorsFor = (libvirtUri: string) =>
    validateSync(plainToInstance(CreateHostDto, { name: 'h', adapter: 'libvirt', libvirtUri })).filter(
      (e) => e.property === 'libvirtUri',
    );

  it.each(['qemu:///system', 'qemu+ssh://limen@hv-2/system', 'qemu+tls://hv-3:16514/system?mode=direct'])(
    'accepts %s',
    (uri) => {
      expect(errorsFor(uri)).toEqual([]);
    },
  );

  it.each([
    'qemu+ssh://root@127.0.0.1/system?command=/bin/sh',
    'qemu+ssh://root@127.0.0.1/system?%63ommand=/bin/sh',
    'qemu:///system?socket=/tmp/relay.sock',
    'qemu+ssh://h/system?netcat=/tmp/x',
    'qemu+ssh://h/system?no_tty=1&no_tty=1',
  ])('security 11.2: refuses %s, and says why without repeating it', (uri) => {
    const [error] = errorsFor(uri);
    expect(error).toBeDefined();
    expect(Object.values(error.constraints ?? {}).join()).toMatch(/^libvirtUri (may|names)/);
    expect(Object.values(error.constraints ?? {}).join()).not.toContain('/bin/sh');
  });
});
