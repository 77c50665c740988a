import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** A user's SSH public key, parsed and validated on the way in; cloud-init installs it in VMs. */
@Entity('ssh_keys')
export class SshKey {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  /** Unique per owner. */
  @Column({ type: 'varchar', length: 63 })
  name: string;

  /** The normalised OpenSSH line: `type base64 [comment]`. */
  @Column({ name: 'public_key', type: 'text' })
  publicKey: string;

  /** ed25519, ecdsa or rsa. */
  @Column({ type: 'varchar', length: 32 })
  type: string;

  @Column({ type: 'integer' })
  bits: number;

  /** `SHA256:…`, as ssh-keygen -l prints it. Unique per owner. */
  @Column({ type: 'varchar', length: 64 })
  fingerprint: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
