import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { CreateHostDto } from './host.dto';

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
