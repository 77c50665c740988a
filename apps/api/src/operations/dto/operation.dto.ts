import { ApiProperty } from '@nestjs/swagger';
import { Operation, OPERATION_STATUSES, OperationStatus } from '../operation.entity';

export class OperationErrorDto {
  @ApiProperty({ example: 'HYPERVISOR_UNAVAILABLE' })
  code: string;

  @ApiProperty({ example: 'libvirtd does not answer' })
  detail: string;
}

export class OperationDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'vm.create' })
  kind: string;

  @ApiProperty({ enum: OPERATION_STATUSES, example: 'running' })
  status: OperationStatus;

  @ApiProperty({ format: 'uuid', nullable: true, type: String })
  vmId: string | null;

  @ApiProperty({ format: 'uuid' })
  ownerId: string;

  /** Kind-specific outcome, e.g. `{vcpus: {config: true, live: false}}` for an update. */
  @ApiProperty({ type: Object, nullable: true, example: null })
  result: Record<string, unknown> | null;

  @ApiProperty({ type: OperationErrorDto, nullable: true })
  error: OperationErrorDto | null;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ type: String, nullable: true, example: null })
  startedAt: string | null;

  @ApiProperty({ type: String, nullable: true, example: null })
  finishedAt: string | null;

  static from(op: Operation): OperationDto {
    return {
      id: op.id,
      kind: op.kind,
      status: op.status,
      vmId: op.vmId,
      ownerId: op.ownerId,
      // A freshly inserted operation has neither yet; both are always sent (null) all the same.
      result: op.result ?? null,
      error: op.error ?? null,
      createdAt: op.createdAt.toISOString(),
      startedAt: op.startedAt?.toISOString() ?? null,
      finishedAt: op.finishedAt?.toISOString() ?? null,
    };
  }
}

export class OperationPageDto {
  @ApiProperty({ type: [OperationDto] })
  items: OperationDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
