import { MigrationInterface, QueryRunner } from 'typeorm';

/** The built-in user-mode network: every VM created before networks existed has its NIC on it. */
export const USER_NETWORK_ID = '00000000-0000-4000-8000-000000000001';

/**
 * Networks, NICs, port forwards and SSH keys (issue 14), and what the hypervisor and guest agent
 * tell about a VM's addresses and OS. Existing VMs get one NIC on the built-in user-mode network
 * with the MAC their domain already has (macAddressFor: 52:54:00 and the first 3 bytes of
 * sha256(vmId)).
 */
export class Networks1764300000000 implements MigrationInterface {
  name = 'Networks1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE networks (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name varchar(63) NOT NULL UNIQUE,
        kind varchar(16) NOT NULL CHECK (kind IN ('nat', 'isolated', 'bridge', 'user')),
        description text NOT NULL DEFAULT '',
        cidr cidr,
        gateway inet,
        dhcp_start inet,
        dhcp_end inet,
        bridge varchar(15),
        vlan integer CHECK (vlan BETWEEN 1 AND 4094),
        libvirt_name varchar(63) UNIQUE,
        public boolean NOT NULL DEFAULT true,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        CHECK ((kind IN ('nat', 'isolated')) = (cidr IS NOT NULL AND libvirt_name IS NOT NULL))
      )`);
    await q.query(`INSERT INTO networks (id, name, kind, description) VALUES ($1, 'user', 'user', $2)`, [
      USER_NETWORK_ID,
      'QEMU user-mode networking, isolated (restrict=on: no traffic out of the guest); reachable through port forwards',
    ]);
    await q.query(`
      CREATE TABLE vm_nics (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        vm_id uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
        network_id uuid NOT NULL REFERENCES networks(id) ON DELETE RESTRICT,
        mac varchar(17) NOT NULL UNIQUE,
        model varchar(16) NOT NULL DEFAULT 'virtio',
        position smallint NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX vm_nics_vm ON vm_nics (vm_id, position)`);
    await q.query(`CREATE INDEX vm_nics_network ON vm_nics (network_id)`);
    await q.query(
      `
      INSERT INTO vm_nics (vm_id, network_id, mac, position)
      SELECT id, $1, '52:54:00:' || substr(h, 1, 2) || ':' || substr(h, 3, 2) || ':' || substr(h, 5, 2), 0
        FROM (SELECT id, encode(sha256(convert_to(id::text, 'UTF8')), 'hex') AS h FROM vms) AS v`,
      [USER_NETWORK_ID],
    );
    await q.query(`
      CREATE TABLE port_forwards (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        vm_id uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
        nic_id uuid NOT NULL REFERENCES vm_nics(id) ON DELETE CASCADE,
        protocol varchar(3) NOT NULL CHECK (protocol IN ('tcp', 'udp')),
        guest_port integer NOT NULL CHECK (guest_port BETWEEN 1 AND 65535),
        host_address inet NOT NULL,
        host_port integer NOT NULL CHECK (host_port BETWEEN 1 AND 65535),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        UNIQUE (protocol, host_port),
        UNIQUE (nic_id, protocol, guest_port)
      )`);
    await q.query(`CREATE INDEX port_forwards_vm ON port_forwards (vm_id)`);
    await q.query(`
      CREATE TABLE ssh_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name varchar(63) NOT NULL,
        public_key text NOT NULL,
        type varchar(32) NOT NULL,
        bits integer NOT NULL,
        fingerprint varchar(64) NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        UNIQUE (owner_id, name),
        UNIQUE (owner_id, fingerprint)
      )`);
    await q.query(`
      ALTER TABLE vms
        ADD COLUMN addresses jsonb NOT NULL DEFAULT '[]',
        ADD COLUMN guest_agent varchar(16) NOT NULL DEFAULT 'absent',
        ADD COLUMN os jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE vms DROP COLUMN addresses, DROP COLUMN guest_agent, DROP COLUMN os`);
    await q.query(`DROP TABLE ssh_keys`);
    await q.query(`DROP TABLE port_forwards`);
    await q.query(`DROP TABLE vm_nics`);
    await q.query(`DROP TABLE networks`);
  }
}
