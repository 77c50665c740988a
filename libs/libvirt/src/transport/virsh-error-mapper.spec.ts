import { mapVirshError } from './virsh-error-mapper';

describe('mapVirshError', () => {
  // Texts printed by virsh 9.0 when libvirtd was SIGKILLed under a running session (measured here).
  it('maps libvirtd going away mid-command, and the failed reconnects after it, to HYPERVISOR_UNAVAILABLE', () => {
    const midCommand =
      'error: failed to get the hypervisor version\nerror: End of file while reading data: Input/output error\n';
    const reconnect =
      "error: Failed to reconnect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused\n";
    expect(mapVirshError(midCommand, 'virsh version')).toMatchObject({
      code: 'HYPERVISOR_UNAVAILABLE',
      message:
        'virsh version: failed to get the hypervisor version; End of file while reading data: Input/output error',
    });
    expect(mapVirshError(reconnect, 'virsh dumpxml').code).toBe('HYPERVISOR_UNAVAILABLE');
    expect(mapVirshError('error: Failed to reconnect to the hypervisor\n', 'virsh start').code).toBe(
      'HYPERVISOR_UNAVAILABLE',
    );
    expect(mapVirshError('error: no valid connection\n', 'virsh start').code).toBe('HYPERVISOR_UNAVAILABLE');
    expect(mapVirshError('error: Cannot recv data: Connection reset by peer\n', 'virsh list').code).toBe(
      'HYPERVISOR_UNAVAILABLE',
    );
  });

  it('maps a full filesystem to INSUFFICIENT_STORAGE, before the generic codes its message also matches', () => {
    const stderr =
      'error: Failed to create snapshot\nerror: operation failed: Failed to take snapshot: Error while writing VM state: No space left on device\n';
    expect(mapVirshError(stderr, 'virsh snapshot-create').code).toBe('INSUFFICIENT_STORAGE');
    expect(mapVirshError('error: internal error: Disk quota exceeded\n', 'virsh save').code).toBe(
      'INSUFFICIENT_STORAGE',
    );
  });

  it('maps network clashes, missing networks and a silent guest agent (libvirt 9.0 texts)', () => {
    const map = (stderr: string) => mapVirshError(stderr, 'virsh x').code;
    expect(
      map(
        'error: Failed to start network limen-net-a\nerror: internal error: Network is already in use by interface eth0\n',
      ),
    ).toBe('NETWORK_CONFLICT');
    expect(map("error: internal error: bridge name 'lnbr-1' already in use.\n")).toBe('NETWORK_CONFLICT');
    expect(
      map(
        "error: failed to get network 'limen-net-x'\nerror: Network not found: no network with matching name 'limen-net-x'\n",
      ),
    ).toBe('INVALID_ARGUMENT');
    expect(map('error: Guest agent is not responding: QEMU guest agent is not connected\n')).toBe(
      'GUEST_AGENT_UNAVAILABLE',
    );
    expect(map('error: argument unsupported: QEMU guest agent is not configured\n')).toBe('GUEST_AGENT_UNAVAILABLE');
  });

  it('keeps the other codes and falls back to OPERATION_FAILED', () => {
    expect(mapVirshError("error: failed to get domain 'limen-x'\n", 'virsh dominfo').code).toBe('DOMAIN_NOT_FOUND');
    expect(
      mapVirshError('error: Requested operation is not valid: domain is not running\n', 'virsh destroy').code,
    ).toBe('INVALID_STATE');
    expect(mapVirshError('error: something new\n', 'virsh x').code).toBe('OPERATION_FAILED');
  });
});

describe('mapVirshError when the connection was lost during the command', () => {
  it('reports HYPERVISOR_UNAVAILABLE even where virsh printed only the failed domain lookup', () => {
    expect(mapVirshError("error: failed to get domain 'limen-x'\n", 'virsh dumpxml', true)).toMatchObject({
      code: 'HYPERVISOR_UNAVAILABLE',
      message: "virsh dumpxml: failed to get domain 'limen-x'",
    });
  });
});
