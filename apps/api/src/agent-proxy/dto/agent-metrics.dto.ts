import { ApiProperty } from '@nestjs/swagger';

// The agent's answers as the proxy passes them on (libs/agent-contract/src/host-metrics.ts).

export class AgentHealthDto {
  @ApiProperty({ enum: ['ok'] })
  status: 'ok';
}

export class AgentCoreDto {
  @ApiProperty({ type: 'integer' })
  core: number;

  @ApiProperty()
  percent: number;
}

export class AgentCpuDto {
  /** Busy share of all cores since the previous sample. */
  @ApiProperty()
  percent: number;

  @ApiProperty({ type: [AgentCoreDto] })
  cores: AgentCoreDto[];
}

export class AgentLoadDto {
  @ApiProperty()
  one: number;

  @ApiProperty()
  five: number;

  @ApiProperty()
  fifteen: number;
}

export class AgentMemoryDto {
  @ApiProperty({ type: 'integer' })
  totalBytes: number;

  @ApiProperty({ type: 'integer' })
  usedBytes: number;

  @ApiProperty({ type: 'integer' })
  availableBytes: number;

  @ApiProperty()
  percent: number;
}

export class AgentSwapDto {
  @ApiProperty({ type: 'integer' })
  totalBytes: number;

  @ApiProperty({ type: 'integer' })
  usedBytes: number;

  @ApiProperty({ type: 'integer' })
  freeBytes: number;
}

export class AgentDiskDto {
  @ApiProperty()
  mount: string;

  @ApiProperty()
  filesystem: string;

  @ApiProperty()
  type: string;

  @ApiProperty({ type: 'integer' })
  sizeBytes: number;

  @ApiProperty({ type: 'integer' })
  usedBytes: number;

  @ApiProperty({ type: 'integer' })
  availableBytes: number;

  @ApiProperty()
  percent: number;
}

export class AgentNetworkInterfaceDto {
  @ApiProperty()
  iface: string;

  @ApiProperty()
  operstate: string;

  @ApiProperty({ type: 'integer' })
  rxBytes: number;

  @ApiProperty({ type: 'integer' })
  txBytes: number;

  /** Null until the interface has been seen twice. */
  @ApiProperty({ type: Number, nullable: true })
  rxBytesPerSecond: number | null;

  @ApiProperty({ type: Number, nullable: true })
  txBytesPerSecond: number | null;
}

export class AgentVmProcessDto {
  @ApiProperty({ type: String, nullable: true })
  domain: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'uuid' })
  vmId: string | null;

  @ApiProperty({ type: 'integer' })
  pid: number;

  /** CPU time since the previous sample as a percentage of one core (a guest busy on 2 vCPUs shows about 200). */
  @ApiProperty()
  cpuPercent: number;

  @ApiProperty({ type: 'integer' })
  rssBytes: number;
}

export class AgentHostMetricsDto {
  @ApiProperty({ format: 'date-time' })
  sampledAt: string;

  @ApiProperty()
  hostname: string;

  @ApiProperty()
  uptimeSeconds: number;

  @ApiProperty({ type: AgentCpuDto })
  cpu: AgentCpuDto;

  @ApiProperty({ type: AgentLoadDto })
  load: AgentLoadDto;

  @ApiProperty({ type: AgentMemoryDto })
  memory: AgentMemoryDto;

  @ApiProperty({ type: AgentSwapDto })
  swap: AgentSwapDto;

  @ApiProperty({ type: [AgentDiskDto] })
  disks: AgentDiskDto[];

  @ApiProperty({ type: [AgentNetworkInterfaceDto] })
  network: AgentNetworkInterfaceDto[];

  @ApiProperty({ type: [AgentVmProcessDto] })
  vms: AgentVmProcessDto[];
}
