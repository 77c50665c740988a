import { IsOptional, IsUUID } from 'class-validator';

export class EventsQueryDto {
  /** Only the events about this VM, replayed and live: one you own (admins: any), else 404. */
  @IsOptional()
  @IsUUID()
  vmId?: string;
}
