import { MigrationInterface, QueryRunner } from 'typeorm';

export class Hosts1764190000000 implements MigrationInterface {
  name = 'Hosts1764190000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE hosts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name varchar(63) NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9.-]{0,62}$'),
        adapter varchar(16) NOT NULL CHECK (adapter IN ('libvirt', 'qemu-direct')),
        libvirt_uri text,
        state_dir text,
        agent_url text,
        agent_token_encrypted text,
        enabled boolean NOT NULL DEFAULT true,
        maintenance boolean NOT NULL DEFAULT false,
        status varchar(8) NOT NULL DEFAULT 'unknown' CHECK (status IN ('up', 'down', 'unknown')),
        status_reason text,
        cpus integer,
        memory_mib integer,
        last_seen_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(
      `ALTER TABLE vms ADD CONSTRAINT vms_host_id_fkey FOREIGN KEY (host_id) REFERENCES hosts(id) ON DELETE RESTRICT`,
    );
    await q.query(`CREATE INDEX vms_host_id_idx ON vms (host_id)`);
    // Alert rules can watch each host's reachability.
    await q.query(`ALTER TABLE alert_rules DROP CONSTRAINT alert_rules_metric_check`);
    await q.query(
      `ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_metric_check CHECK (metric IN ('host.cpu.percent', 'host.memory.percent', 'host.disk.percent', 'vm.crashed', 'quota.usage.percent', 'hypervisor.up', 'agent.up', 'host.up'))`,
    );
    await q.query(
      `INSERT INTO alert_rules (name, metric, comparator, threshold, for_seconds, severity) VALUES ('Host down', 'host.up', '<', 1, 0, 'critical')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM alert_rules WHERE metric = 'host.up'`);
    await q.query(`ALTER TABLE alert_rules DROP CONSTRAINT alert_rules_metric_check`);
    await q.query(
      `ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_metric_check CHECK (metric IN ('host.cpu.percent', 'host.memory.percent', 'host.disk.percent', 'vm.crashed', 'quota.usage.percent', 'hypervisor.up', 'agent.up'))`,
    );
    await q.query(`ALTER TABLE vms DROP CONSTRAINT vms_host_id_fkey`);
    await q.query(`DROP TABLE hosts`);
  }
}
