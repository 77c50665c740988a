import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

export class WaitQueryDto {
  /** Seconds to wait for the operation to end, 0-60. */
  @ApiPropertyOptional({ type: 'integer', default: 30, minimum: 0, maximum: 60 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(60)
  timeout: number = 30;
}
