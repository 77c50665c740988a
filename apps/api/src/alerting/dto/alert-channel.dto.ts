import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsEmail,
  IsIn,
  IsString,
  IsUrl,
  Matches,
  MaxLength,
  MinLength,
} from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { SEVERITIES, Severity } from '../alert-metrics';
import { AlertChannel, CHANNEL_TYPES, ChannelType } from '../alert-channel.entity';
import { DISPLAY_NAME } from './alert-rule.dto';

/** http(s) only, no credentials in the URL (put a shared secret in `secret` instead); loopback and private hosts are allowed, since admins configure them. */
const WEBHOOK_URL_OPTIONS = {
  protocols: ['http', 'https'],
  require_protocol: true,
  require_tld: false,
  require_host: true,
  disallow_auth: true,
  allow_underscores: true,
};
const WEBHOOK_URL_MESSAGE = 'url must be an http:// or https:// URL without credentials';

export class CreateAlertChannelDto {
  /** @example "ops webhook" */
  @IsString()
  @Matches(DISPLAY_NAME, { message: 'name must be 1-100 printable characters' })
  name: string;

  @ApiProperty({ enum: CHANNEL_TYPES, example: 'webhook' })
  @IsIn(CHANNEL_TYPES)
  type: ChannelType;

  /**
   * webhook: where notifications are POSTed as JSON.
   * @example "https://hooks.example.com/limen"
   */
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(2048)
  @IsUrl(WEBHOOK_URL_OPTIONS, { message: WEBHOOK_URL_MESSAGE })
  url?: string;

  /**
   * webhook: the HMAC-SHA256 key for `X-Limen-Signature`, 16-256 characters. Omit it to have one
   * generated: it is returned once, in this response, and never again.
   */
  @ApiPropertyOptional({ minLength: 16, maxLength: 256, format: 'password' })
  @IsOptionalNotNull()
  @IsString()
  @MinLength(16)
  @MaxLength(256)
  secret?: string;

  /**
   * email: 1-20 addresses.
   * @example ["ops@example.com"]
   */
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @IsEmail({}, { each: true })
  recipients?: string[];

  @ApiPropertyOptional({
    enum: SEVERITIES,
    default: 'info',
    description: 'Alerts below this severity are not sent to this channel',
  })
  @IsOptionalNotNull()
  @IsIn(SEVERITIES)
  minSeverity?: Severity;

  @ApiPropertyOptional({ default: true })
  @IsOptionalNotNull()
  @IsBoolean()
  enabled?: boolean;
}

/** Any subset; the type cannot change. A new `secret` replaces the old one. */
export class UpdateAlertChannelDto {
  /** @example "ops webhook" */
  @IsOptionalNotNull()
  @IsString()
  @Matches(DISPLAY_NAME, { message: 'name must be 1-100 printable characters' })
  name?: string;

  /**
   * webhook only.
   * @example "https://hooks.example.com/limen"
   */
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(2048)
  @IsUrl(WEBHOOK_URL_OPTIONS, { message: WEBHOOK_URL_MESSAGE })
  url?: string;

  /** webhook only. */
  @ApiPropertyOptional({ minLength: 16, maxLength: 256, format: 'password' })
  @IsOptionalNotNull()
  @IsString()
  @MinLength(16)
  @MaxLength(256)
  secret?: string;

  /**
   * email only.
   * @example ["ops@example.com"]
   */
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @IsEmail({}, { each: true })
  recipients?: string[];

  @ApiPropertyOptional({ enum: SEVERITIES })
  @IsOptionalNotNull()
  @IsIn(SEVERITIES)
  minSeverity?: Severity;

  @IsOptionalNotNull()
  @IsBoolean()
  enabled?: boolean;
}

/** A channel as the API shows it: the webhook secret never, only whether there is one. */
export class AlertChannelDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'ops webhook' })
  name: string;

  @ApiProperty({ enum: CHANNEL_TYPES, example: 'webhook' })
  type: ChannelType;

  @ApiProperty({ type: String, nullable: true, example: 'https://hooks.example.com/limen' })
  url: string | null;

  @ApiProperty({ example: true })
  hasSecret: boolean;

  @ApiProperty({ type: [String], example: [] })
  recipients: string[];

  @ApiProperty({ enum: SEVERITIES, example: 'info' })
  minSeverity: Severity;

  @ApiProperty({ example: true })
  enabled: boolean;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  updatedAt: string;

  static from(channel: AlertChannel): AlertChannelDto {
    return {
      id: channel.id,
      name: channel.name,
      type: channel.type,
      url: channel.url,
      // The schema requires a secret on every webhook channel and allows none elsewhere.
      hasSecret: channel.type === 'webhook',
      recipients: channel.recipients,
      minSeverity: channel.minSeverity,
      enabled: channel.enabled,
      createdAt: channel.createdAt.toISOString(),
      updatedAt: channel.updatedAt.toISOString(),
    };
  }
}

/** The creation answer: as AlertChannelDto, plus the generated secret this one time. */
export class CreatedAlertChannelDto extends AlertChannelDto {
  @ApiPropertyOptional({ description: 'Only when the secret was generated: shown here once, never again' })
  secret?: string;
}

export class AlertChannelPageDto {
  @ApiProperty({ type: [AlertChannelDto] })
  items: AlertChannelDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}

/** What one test notification did. */
export class ChannelTestResultDto {
  @ApiProperty({ example: true })
  delivered: boolean;

  @ApiProperty({ type: 'integer', example: 42 })
  latencyMs: number;

  @ApiProperty({ type: String, nullable: true, example: null, description: 'Why the delivery failed' })
  error: string | null;
}
