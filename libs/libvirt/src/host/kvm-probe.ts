import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../transport/process-runner';

/**
 * A 512-byte boot sector that writes "KVMOK" to the first serial port and powers off through
 * QEMU's isa-debug-exit device. It exercises real guest execution under KVM (BIOS, real mode,
 * port I/O), which is where nested KVM on these hosts fails: /dev/kvm opens fine but guests
 * hang or QEMU aborts on an MSR.
 */
function bootSector(): Buffer {
  const code: number[] = [];
  for (const char of 'KVMOK\n') {
    // mov dx, 0x3f8 ; mov al, <char> ; out dx, al
    code.push(0xba, 0xf8, 0x03, 0xb0, char.charCodeAt(0), 0xee);
  }
  // mov dx, 0x501 ; mov al, 0 ; out dx, al   (isa-debug-exit: QEMU exits)
  code.push(0xba, 0x01, 0x05, 0xb0, 0x00, 0xee);
  // hlt ; jmp hlt
  code.push(0xf4, 0xeb, 0xfd);
  const sector = Buffer.alloc(512);
  Buffer.from(code).copy(sector);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

export interface KvmProbeResult {
  usable: boolean;
  reason: string;
}

/** The CPU flag a hypervisor sets for its guests: KVM here would be nested KVM. */
async function runsInsideVirtualMachine(): Promise<boolean> {
  try {
    return /^flags\s*:.*\bhypervisor\b/m.test(await readFile('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * True only when KVM can be trusted; any doubt means TCG. Nested KVM counts as doubt even when
 * the probe guest runs: on these hosts small guests pass while real kernels hang or crash.
 */
export async function probeKvm(qemuBinary = 'qemu-system-x86_64', timeoutMs = 10_000): Promise<KvmProbeResult> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { usable: false, reason: '/dev/kvm is missing or not accessible' };
  }
  if (await runsInsideVirtualMachine()) {
    return {
      usable: false,
      reason: 'host is itself a virtual machine; nested KVM is not trusted (set virtType kvm to force it)',
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'limen-kvm-probe-'));
  try {
    const image = join(dir, 'boot.img');
    await writeFile(image, bootSector());
    const result = await runProcess(
      qemuBinary,
      [
        '-accel',
        'kvm',
        '-machine',
        'pc',
        '-m',
        '16',
        '-nodefaults',
        '-display',
        'none',
        '-no-user-config',
        '-serial',
        'stdio',
        '-device',
        'isa-debug-exit,iobase=0x501,iosize=1',
        '-drive',
        `file=${image},format=raw,if=ide`,
      ],
      { timeoutMs, allowFailure: true },
    );
    if (result.stdout.includes('KVMOK')) return { usable: true, reason: 'KVM guest ran' };
    return { usable: false, reason: `KVM guest did not run: ${result.stderr.trim().slice(0, 300)}` };
  } catch (error) {
    return { usable: false, reason: `KVM probe failed: ${(error as Error).message}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
