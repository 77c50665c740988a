import { join } from 'node:path';
import { createVirtualizationPort } from '../src';
import { describeCopiesContract } from './port-contract-copies';
import { realHarness } from './real-contract-harness';

describeCopiesContract(
  'qemu-direct',
  realHarness('qd-copies', (runDir) =>
    createVirtualizationPort({ adapter: 'qemu-direct', stateDir: join(runDir, 'state'), virtType: 'qemu' }),
  ),
);
