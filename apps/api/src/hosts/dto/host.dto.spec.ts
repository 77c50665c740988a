import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { CreateHostDto, UpdateHostDto } from './host.dto';

const errorsFor = (stateDir: string) =>
  validateSync(plainToInstance(CreateHostDto, { name: 'h', adapter: 'qemu-direct', stateDir, agentToken: 'a-token-for-this-host' })).filter((e) => e.property === 'stateDir');

describe('CreateHostDto.stateDir', () => {
  it.each(['/var/lib/limen/qemu-direct', '/srv/limen.d/state', '/a/..b/c.', '/'])('accepts %s', (dir) => {
    expect(errorsFor(dir)).toEqual([]);
  });

  it.each(['/../../etc', '/var/lib/../../etc', '/var/./lib', '/var/lib/..', 'relative/path', '/var/lib\n'])('refuses %j', (dir) => {
    expect(errorsFor(dir)).toHaveLength(1);
  });
});

describe('UpdateHostDto', () => {
  const fieldsWithErrors = (body: object) => validateSync(plainToInstance(UpdateHostDto, body)).map((e) => e.property);

  it('refuses null for fields that cannot be empty (found by the HTTP property test: a 500)', () => {
    expect(fieldsWithErrors({ enabled: null, maintenance: null, agentToken: null }).sort()).toEqual(['agentToken', 'enabled', 'maintenance']);
  });

  it('still treats absent fields as unchanged and accepts a null agentUrl (no agent)', () => {
    expect(fieldsWithErrors({})).toEqual([]);
    expect(fieldsWithErrors({ enabled: false, agentUrl: null })).toEqual([]);
  });
});
