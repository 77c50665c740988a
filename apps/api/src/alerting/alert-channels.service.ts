import { HttpStatus, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { isUniqueViolation } from '../database/pg-errors';
import { AlertChannel, ChannelType } from './alert-channel.entity';
import { AlertChannelRepository } from './alert-channel.repository';
import { AlertNotifier } from './alert-notifier';
import { EmailSender } from './channels/email.sender';
import { ChannelTestResultDto, CreateAlertChannelDto, UpdateAlertChannelDto } from './dto/alert-channel.dto';

function invalid(field: string, message: string): AppException {
  return new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, `Validation failed for ${field}`, {
    errors: [{ field, messages: [message] }],
  });
}

/** Which fields belong to which channel type; a field of another type is refused, not ignored. */
const FIELDS_OF: Record<ChannelType, ReadonlyArray<'url' | 'secret' | 'recipients'>> = {
  webhook: ['url', 'secret'],
  email: ['recipients'],
  log: [],
};

/** CRUD for notification channels. Webhook secrets go in, and never come out again. */
@Injectable()
export class AlertChannelsService {
  constructor(
    private readonly channels: AlertChannelRepository,
    private readonly notifier: AlertNotifier,
    private readonly email: EmailSender,
  ) {}

  list(page: PageQueryDto): Promise<{ items: AlertChannel[]; nextCursor: string | null }> {
    return this.channels.page(page);
  }

  async get(id: string): Promise<AlertChannel> {
    const channel = await this.channels.find(id);
    if (!channel) throw AppException.notFound('Alert channel');
    return channel;
  }

  /** Returns the channel, and the secret when it was generated here (its only appearance). */
  async create(dto: CreateAlertChannelDto): Promise<{ channel: AlertChannel; generatedSecret?: string }> {
    this.checkFields(dto.type, dto);
    if (dto.type === 'webhook' && !dto.url) throw invalid('url', 'url is required for a webhook channel');
    if (dto.type === 'email' && !dto.recipients)
      throw invalid('recipients', 'recipients are required for an email channel');
    if (dto.type === 'email' && !this.email.configured)
      throw invalid('type', 'email channels need SMTP_URL to be configured');
    const generatedSecret = dto.type === 'webhook' && !dto.secret ? randomBytes(32).toString('base64url') : undefined;
    const channel = await this.saveUnique({
      name: dto.name,
      type: dto.type,
      url: dto.url ?? null,
      secret: dto.secret ?? generatedSecret ?? null,
      recipients: dto.recipients ?? [],
      minSeverity: dto.minSeverity ?? 'info',
      enabled: dto.enabled ?? true,
    });
    return { channel: await this.get(channel.id), generatedSecret };
  }

  async update(id: string, dto: UpdateAlertChannelDto): Promise<AlertChannel> {
    const channel = await this.get(id);
    this.checkFields(channel.type, dto);
    const changes = Object.fromEntries(Object.entries(dto).filter(([, value]) => value !== undefined));
    await this.saveUnique(Object.assign(channel, changes));
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    if (!(await this.channels.delete(id))) throw AppException.notFound('Alert channel');
  }

  async test(id: string): Promise<ChannelTestResultDto> {
    await this.get(id);
    return this.notifier.test(id);
  }

  private checkFields(type: ChannelType, dto: Partial<Record<'url' | 'secret' | 'recipients', unknown>>): void {
    for (const field of ['url', 'secret', 'recipients'] as const) {
      if (dto[field] !== undefined && !FIELDS_OF[type].includes(field))
        throw invalid(field, `${field} does not apply to a ${type} channel`);
    }
  }

  private async saveUnique(channel: Partial<AlertChannel>): Promise<AlertChannel> {
    try {
      return await this.channels.save(channel);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'An alert channel with that name exists');
      throw error;
    }
  }
}
