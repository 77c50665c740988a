import { vmStateFromDomain } from './vm-state';

describe('vmStateFromDomain', () => {
  it('calls a domain shut off by a QEMU death crashed, and any other shut-off domain stopped', () => {
    expect(vmStateFromDomain('shutoff', 'crashed')).toBe('crashed');
    expect(vmStateFromDomain('shutoff', 'destroyed')).toBe('stopped');
    expect(vmStateFromDomain('shutoff', 'shutdown')).toBe('stopped');
    expect(vmStateFromDomain('shutoff', 'failed')).toBe('stopped');
    expect(vmStateFromDomain('shutoff')).toBe('stopped');
  });

  it('maps the running and paused families, and libvirt’s own crashed state', () => {
    expect(vmStateFromDomain('running')).toBe('running');
    expect(vmStateFromDomain('shutdown')).toBe('running');
    expect(vmStateFromDomain('pmsuspended')).toBe('paused');
    expect(vmStateFromDomain('crashed')).toBe('crashed');
    expect(vmStateFromDomain('nostate')).toBe('error');
  });
});
