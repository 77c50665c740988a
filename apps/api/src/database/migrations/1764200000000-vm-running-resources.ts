import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a VM's running domain booted with. A resize of a running VM only changes its next boot, so
 * until it stops the quota and host allocation count the larger of the two (see QuotaLedger).
 */
export class VmRunningResources1764200000000 implements MigrationInterface {
  name = 'VmRunningResources1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE vms ADD COLUMN running_vcpus integer, ADD COLUMN running_memory_mib integer`);
    // What VMs already running booted with is not recorded; their definition is the best guess.
    await q.query(
      `UPDATE vms SET running_vcpus = vcpus, running_memory_mib = memory_mib WHERE state IN ('running', 'paused', 'unknown', 'error')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE vms DROP COLUMN running_vcpus, DROP COLUMN running_memory_mib`);
  }
}
