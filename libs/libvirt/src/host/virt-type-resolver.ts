import { VirtType } from '../models';
import { KvmProbeResult, probeKvm } from './kvm-probe';

export type VirtTypeSetting = 'auto' | VirtType;

/** Resolves `auto` once per process: the KVM probe boots a tiny guest and takes a few seconds. */
export class VirtTypeResolver {
  private probe: Promise<KvmProbeResult> | undefined;

  constructor(
    private readonly setting: VirtTypeSetting,
    private readonly qemuBinary = 'qemu-system-x86_64',
  ) {}

  async resolve(): Promise<VirtType> {
    if (this.setting !== 'auto') return this.setting;
    return (await this.kvm()).usable ? 'kvm' : 'qemu';
  }

  /** Types that work here; an explicit `kvm` setting is trusted as the operator's decision. */
  async usableTypes(): Promise<VirtType[]> {
    if (this.setting === 'kvm') return ['kvm', 'qemu'];
    return (await this.kvm()).usable ? ['kvm', 'qemu'] : ['qemu'];
  }

  private kvm(): Promise<KvmProbeResult> {
    this.probe ??= probeKvm(this.qemuBinary);
    return this.probe;
  }
}
