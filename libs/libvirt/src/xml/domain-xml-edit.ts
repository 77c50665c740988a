import { HypervisorError } from '../errors/hypervisor-error';
import { BootDevice, NicSpec } from '../models';
import { perDeviceBootNumbers } from './boot-plan';
import { userNicArgs } from './nic-xml';
import { QEMU_PREFIX, QEMU_XMLNS } from './qemu-namespace';
import { ATTR, buildOrderedXml, OrderedNode, parseOrderedXml } from './xml-codec';

const COMMANDLINE = `${QEMU_PREFIX}:commandline`;

export interface UserNicLayout {
  /** The definition's firmware boot order (undefined with direct kernel boot). */
  bootOrder?: BootDevice[];
  /** Whether the definition has libvirt `<interface>`s (which take network boot before user-mode NICs). */
  hasInterfaces: boolean;
}

/**
 * Rewrites the user-mode NICs of a domain definition libvirt wrote (`dumpxml --inactive
 * --security-info`): its `<qemu:commandline>` is replaced by the arguments of `nics`, and
 * nothing else of the document changes (order, whitespace and every other value are kept).
 */
export function replaceUserNics(domainXml: string, nics: NicSpec[], layout: UserNicLayout): string {
  const document = parseOrderedXml(domainXml);
  const domain = document.find((node) => 'domain' in node);
  if (!domain) throw new HypervisorError('OPERATION_FAILED', 'not a libvirt domain XML document');
  const children = (domain.domain as OrderedNode[]).filter((node) => !(COMMANDLINE in node));
  const bootIndex = networkBootIndex(children, layout);
  const args = nics
    .filter((nic) => nic.attachment.type === 'user')
    .flatMap((nic, index) => userNicArgs(nic, index === 0 ? bootIndex : undefined));
  if (args.length > 0) {
    children.push({
      [COMMANDLINE]: args.map((value) => ({ [`${QEMU_PREFIX}:arg`]: [], ':@': { [`${ATTR}value`]: value } })),
    });
    domain[':@'] = { ...(domain[':@'] as OrderedNode | undefined), [`${ATTR}xmlns:${QEMU_PREFIX}`]: QEMU_XMLNS };
  }
  domain.domain = children;
  return buildOrderedXml(document);
}

/**
 * The number network boot has (see BootPlan): its place in `<os><boot>`, or in per-device mode (no
 * `<os><boot>`) its kind's block. Undefined when no user-mode NIC boots.
 */
function networkBootIndex(children: OrderedNode[], layout: UserNicLayout): number | undefined {
  if (!layout.bootOrder || layout.hasInterfaces || !layout.bootOrder.includes('network')) return undefined;
  const os = children.find((node) => 'os' in node)?.os as OrderedNode[] | undefined;
  const perDevice = !(os ?? []).some((node) => 'boot' in node);
  return perDevice ? perDeviceBootNumbers(layout.bootOrder).network : layout.bootOrder.indexOf('network') + 1;
}
