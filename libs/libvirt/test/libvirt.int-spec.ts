import { createVirtualizationPort } from '../src';
import { describePortContract } from './port-contract';

describePortContract('libvirt', () => createVirtualizationPort({ adapter: 'libvirt', uri: 'qemu:///system', virtType: 'qemu' }));
