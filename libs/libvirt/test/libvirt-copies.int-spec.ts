import { createVirtualizationPort } from '../src';
import { describeCopiesContract } from './port-contract-copies';
import { realHarness, removeLibvirtPools } from './real-contract-harness';

const URI = 'qemu:///system';

describeCopiesContract(
  'libvirt',
  realHarness(
    'libvirt-copies',
    () => createVirtualizationPort({ adapter: 'libvirt', uri: URI, virtType: 'qemu' }),
    (pools) => removeLibvirtPools(URI, pools),
  ),
);
