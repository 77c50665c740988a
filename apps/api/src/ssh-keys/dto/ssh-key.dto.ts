import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, MaxLength } from 'class-validator';
import { SshKey } from '../ssh-key.entity';
import { SSH_KEY_TYPES, SshKeyType } from '../ssh-public-key';

const EXAMPLE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4TBbD5b18q921po0anOiIGyC5nqcL7cFFtdx0f1DDe alice@laptop';

export class CreateSshKeyDto {
  /**
   * Unique among your keys: 1-63 of A-Z a-z 0-9 . _ @ -, starting alphanumeric.
   * @example "laptop"
   */
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$/, {
    message: 'name must be 1-63 characters of A-Z a-z 0-9 . _ @ -, starting with a letter or digit',
  })
  name: string;

  /**
   * One OpenSSH public key line (the `.pub` file): ed25519, ecdsa, or rsa of at least 2048 bits.
   * @example "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4TBbD5b18q921po0anOiIGyC5nqcL7cFFtdx0f1DDe alice@laptop"
   */
  @IsString()
  @MaxLength(16384)
  publicKey: string;
}

export class SshKeyDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'laptop' })
  name: string;

  /** Normalised: `type base64 [comment]`. */
  @ApiProperty({ example: EXAMPLE_KEY })
  publicKey: string;

  @ApiProperty({ enum: SSH_KEY_TYPES, example: 'ed25519' })
  type: SshKeyType;

  @ApiProperty({ type: 'integer', example: 256 })
  bits: number;

  /** As `ssh-keygen -l` prints it. */
  @ApiProperty({ example: 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8' })
  fingerprint: string;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  static from(key: SshKey): SshKeyDto {
    return {
      id: key.id,
      name: key.name,
      publicKey: key.publicKey,
      type: key.type as SshKeyType,
      bits: key.bits,
      fingerprint: key.fingerprint,
      createdAt: key.createdAt.toISOString(),
    };
  }
}

export class SshKeyPageDto {
  @ApiProperty({ type: [SshKeyDto] })
  items: SshKeyDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
