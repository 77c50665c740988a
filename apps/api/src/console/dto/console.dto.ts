import { ApiProperty } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { CONSOLE_TYPES, ConsoleType } from '../console-type';

export class OpenConsoleDto {
  /** `vnc`: the VM's screen (RFB); `serial`: its first serial port. */
  @ApiProperty({ enum: CONSOLE_TYPES, example: 'vnc' })
  @IsIn(CONSOLE_TYPES)
  type: ConsoleType;
}

export class ConsoleTicketDto {
  /** Single use, bound to you and this VM. Treat it like a password until it is spent. */
  @ApiProperty({ example: 'q2YH5d0Kc6x1Lr3v9bXo8Qf7uWm4sTn0aZp2eJk5hGc' })
  ticket: string;

  /**
   * The WebSocket to open, relative to the api's origin (ws:// or wss:// as the page's scheme).
   * Binary frames are relayed both ways: RFB for `vnc`, raw bytes for `serial`.
   */
  @ApiProperty({
    example:
      '/api/v1/console/ws/7d1f3c52-8a7e-4b8e-9d59-3f1c2b6a9e10?ticket=q2YH5d0Kc6x1Lr3v9bXo8Qf7uWm4sTn0aZp2eJk5hGc',
  })
  url: string;

  /** The WebSocket must connect before this instant (60 s after issue). */
  @ApiProperty({ type: String, format: 'date-time' })
  expiresAt: Date;

  @ApiProperty({ enum: CONSOLE_TYPES, example: 'vnc' })
  type: ConsoleType;
}
