import { ApiProperty } from '@nestjs/swagger';

class VmMemoryStatsDto {
  @ApiProperty({ type: 'integer', example: 256 })
  currentMiB: number;

  @ApiProperty({ type: 'integer', example: 256 })
  maxMiB: number;

  /** Reported by the guest's balloon driver, when it has one. */
  @ApiProperty({ type: 'integer', nullable: true, example: null })
  availableMiB: number | null;

  /** Resident memory of the QEMU process. */
  @ApiProperty({ type: 'integer', nullable: true, example: 180 })
  rssMiB: number | null;
}

class VmDiskStatsDto {
  @ApiProperty({ example: 0 })
  readBytesPerSec: number;

  @ApiProperty({ example: 4096 })
  writeBytesPerSec: number;
}

class VmNetworkStatsDto {
  @ApiProperty({ example: 0 })
  rxBytesPerSec: number;

  @ApiProperty({ example: 0 })
  txBytesPerSec: number;
}

export class VmStatsDto {
  /** Share of the VM's vCPUs in use, 0-100. */
  @ApiProperty({ example: 12.5 })
  cpuPercent: number;

  @ApiProperty({ type: VmMemoryStatsDto })
  memory: VmMemoryStatsDto;

  @ApiProperty({ type: VmDiskStatsDto })
  disk: VmDiskStatsDto;

  @ApiProperty({ type: VmNetworkStatsDto })
  network: VmNetworkStatsDto;

  @ApiProperty({ type: 'integer', example: 500 })
  sampledOverMs: number;
}
