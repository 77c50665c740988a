import { HypervisorError } from '../errors/hypervisor-error';
import { BootDevice, NicSpec } from '../models';
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
  const bootPosition = layout.bootOrder?.indexOf('network') ?? -1;
  const bootsUserNic = bootPosition >= 0 && !layout.hasInterfaces;
  const args = nics
    .filter((nic) => nic.attachment.type === 'user')
    .flatMap((nic, index) => userNicArgs(nic, bootsUserNic && index === 0 ? bootPosition + 1 : undefined));
  if (args.length > 0) {
    children.push({
      [COMMANDLINE]: args.map((value) => ({ [`${QEMU_PREFIX}:arg`]: [], ':@': { [`${ATTR}value`]: value } })),
    });
    domain[':@'] = { ...(domain[':@'] as OrderedNode | undefined), [`${ATTR}xmlns:${QEMU_PREFIX}`]: QEMU_XMLNS };
  }
  domain.domain = children;
  return buildOrderedXml(document);
}
