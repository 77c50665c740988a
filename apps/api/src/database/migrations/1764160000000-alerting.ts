import { MigrationInterface, QueryRunner } from 'typeorm';

export class Alerting1764160000000 implements MigrationInterface {
  name = 'Alerting1764160000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE alert_rules (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name varchar(100) NOT NULL,
        metric varchar(32) NOT NULL CHECK (metric IN ('host.cpu.percent', 'host.memory.percent', 'host.disk.percent', 'vm.crashed', 'quota.usage.percent', 'hypervisor.up', 'agent.up')),
        comparator varchar(2) NOT NULL CHECK (comparator IN ('>', '>=', '<', '<=', '==')),
        threshold double precision NOT NULL,
        for_seconds integer NOT NULL DEFAULT 0 CHECK (for_seconds >= 0),
        severity varchar(8) NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX alert_rules_name_key ON alert_rules (lower(name))`);
    await q.query(`CREATE INDEX alert_rules_created_at_id_idx ON alert_rules (created_at DESC, id DESC)`);
    await q.query(`
      INSERT INTO alert_rules (name, metric, comparator, threshold, for_seconds, severity) VALUES
        ('Disk usage high', 'host.disk.percent', '>=', 85, 300, 'warning'),
        ('Memory usage high', 'host.memory.percent', '>=', 90, 300, 'warning'),
        ('Hypervisor down', 'hypervisor.up', '<', 1, 60, 'critical'),
        ('Agent down', 'agent.up', '<', 1, 120, 'warning')`);

    await q.query(`
      CREATE TABLE alert_channels (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name varchar(100) NOT NULL,
        type varchar(8) NOT NULL CHECK (type IN ('webhook', 'email', 'log')),
        url text CHECK (url IS NULL OR url ~ '^https?://'),
        secret text,
        recipients jsonb NOT NULL DEFAULT '[]',
        min_severity varchar(8) NOT NULL DEFAULT 'info' CHECK (min_severity IN ('info', 'warning', 'critical')),
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        CHECK (type <> 'webhook' OR (url IS NOT NULL AND secret IS NOT NULL))
      )`);
    await q.query(`CREATE UNIQUE INDEX alert_channels_name_key ON alert_channels (lower(name))`);
    await q.query(`CREATE INDEX alert_channels_created_at_id_idx ON alert_channels (created_at DESC, id DESC)`);

    // One row per instance: pending while the condition has not yet held for the rule's `for`,
    // then firing, then resolved (kept as history). A pending row that clears is deleted.
    await q.query(`
      CREATE TABLE alerts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        rule_id uuid NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
        subject varchar(255) NOT NULL DEFAULT '',
        state varchar(8) NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
        value double precision NOT NULL,
        pending_since timestamptz(3) NOT NULL,
        fired_at timestamptz(3),
        resolved_at timestamptz(3),
        acked_by uuid REFERENCES users(id) ON DELETE SET NULL,
        acked_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    // Deduplication by the database itself: one open instance per rule and subject.
    await q.query(
      `CREATE UNIQUE INDEX alerts_one_open_per_rule_subject ON alerts (rule_id, subject) WHERE state IN ('pending', 'firing')`,
    );
    await q.query(`CREATE INDEX alerts_created_at_id_idx ON alerts (created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX alerts_state_idx ON alerts (state) WHERE state IN ('pending', 'firing')`);

    // Silences outlive one instance: a (rule, subject) that resolves and fires again before
    // `until` stays quiet on the channels.
    await q.query(`
      CREATE TABLE alert_silences (
        rule_id uuid NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
        subject varchar(255) NOT NULL,
        until timestamptz(3) NOT NULL,
        created_by uuid REFERENCES users(id) ON DELETE SET NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (rule_id, subject)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['alert_silences', 'alerts', 'alert_channels', 'alert_rules']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
