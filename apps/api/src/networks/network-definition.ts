import type { NetworkDefinition, NicAttachment, NicSpec, PortForwardSpec } from '@limen/libvirt';
import { Network } from './network.entity';
import { PortForward } from './port-forward.entity';
import { VmNic } from './vm-nic.entity';

/** The libvirt network a nat or isolated row stands for on every host. */
export function networkDefinitionOf(network: Network): NetworkDefinition {
  return {
    name: network.libvirtName!,
    kind: network.kind as NetworkDefinition['kind'],
    bridge: network.bridge!,
    cidr: network.cidr!,
    gateway: network.gateway!,
    dhcpStart: network.dhcpStart!,
    dhcpEnd: network.dhcpEnd!,
  };
}

/** A forward as the hypervisor takes it. */
export function portForwardSpecOf(forward: PortForward): PortForwardSpec {
  return {
    protocol: forward.protocol,
    hostAddress: forward.hostAddress,
    hostPort: forward.hostPort,
    guestPort: forward.guestPort,
  };
}

/** The hypervisor attachment of a NIC on `network`; a user-mode one carries the NIC's forwards. */
export function attachmentOf(network: Network, forwards: PortForward[] = []): NicAttachment {
  switch (network.kind) {
    case 'nat':
    case 'isolated':
      return { type: 'network', network: network.libvirtName! };
    case 'bridge':
      return { type: 'bridge', bridge: network.bridge!, ...(network.vlan ? { vlan: network.vlan } : {}) };
    case 'user':
      return { type: 'user', portForwards: forwards.map(portForwardSpecOf) };
  }
}

/** `forwards`: the VM's (those of other NICs are left out). */
export function nicSpecOf(nic: VmNic, network: Network, forwards: PortForward[] = []): NicSpec {
  const own = forwards.filter((forward) => forward.nicId === nic.id);
  return { id: nic.id, mac: nic.mac, model: nic.model, attachment: attachmentOf(network, own) };
}

/**
 * The cloud-init network-config (version 2) of a VM: DHCPv4 on every NIC, matched by MAC and named
 * eth0, eth1, … in order. JSON, which cloud-init reads as the YAML it is a subset of.
 */
export function networkConfigFor(nics: Array<Pick<VmNic, 'mac'>>): string {
  const ethernets = Object.fromEntries(
    nics.map((nic, i) => [`nic${i}`, { match: { macaddress: nic.mac }, 'set-name': `eth${i}`, dhcp4: true }]),
  );
  return JSON.stringify({ version: 2, ethernets });
}
