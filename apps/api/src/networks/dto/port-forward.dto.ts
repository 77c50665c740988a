import { ApiProperty } from '@nestjs/swagger';
import type { PortProtocol } from '@limen/libvirt';
import { PortForward } from '../port-forward.entity';

/** A host port forwarded to a port of a user-mode NIC. */
export class PortForwardDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  nicId: string;

  @ApiProperty({ enum: ['tcp', 'udp'], example: 'tcp' })
  protocol: PortProtocol;

  @ApiProperty({ type: 'integer', example: 22 })
  guestPort: number;

  @ApiProperty({ example: '127.0.0.1' })
  hostAddress: string;

  @ApiProperty({ type: 'integer', example: 20022 })
  hostPort: number;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  static from(f: PortForward): PortForwardDto {
    return {
      id: f.id,
      nicId: f.nicId,
      protocol: f.protocol,
      guestPort: f.guestPort,
      hostAddress: f.hostAddress,
      hostPort: f.hostPort,
      createdAt: f.createdAt.toISOString(),
    };
  }
}
