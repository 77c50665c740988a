import { HttpException } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { AlertChannel } from './alert-channel.entity';
import { AlertChannelRepository } from './alert-channel.repository';
import { AlertChannelsService } from './alert-channels.service';
import { AlertNotifier } from './alert-notifier';
import { EmailSender } from './channels/email.sender';
import { CreateAlertChannelDto } from './dto/alert-channel.dto';

const uniqueViolation = () =>
  new QueryFailedError('INSERT …', [], Object.assign(new Error('duplicate key'), { code: '23505' }));

const refusal = (call: Promise<unknown>) =>
  call.then(
    () => 'accepted',
    (error: HttpException & { code: string }) => `${error.getStatus()} ${error.code}`,
  );

/** In memory, with the table's unique index on lower(name); the secret is not read back, as in the table. */
class FakeAlertChannelRepository implements Partial<AlertChannelRepository> {
  readonly rows = new Map<string, AlertChannel>();
  private next = 1;

  async find(id: string) {
    const row = this.rows.get(id);
    return row ? Object.assign(new AlertChannel(), row, { secret: undefined }) : null;
  }

  async save(channel: Partial<AlertChannel>) {
    const id = channel.id ?? `channel-${this.next++}`;
    const name = channel.name?.toLowerCase();
    if ([...this.rows.values()].some((other) => other.name.toLowerCase() === name && other.id !== id))
      throw uniqueViolation();
    const defined = Object.fromEntries(Object.entries(channel).filter(([, value]) => value !== undefined));
    const saved = Object.assign(new AlertChannel(), this.rows.get(id), defined, { id });
    this.rows.set(id, saved);
    return saved;
  }

  async delete(id: string) {
    return this.rows.delete(id);
  }
}

const webhook = (name: string, extra: Partial<CreateAlertChannelDto> = {}): CreateAlertChannelDto =>
  Object.assign(new CreateAlertChannelDto(), { name, type: 'webhook', url: 'https://example.test/hook', ...extra });

describe('AlertChannelsService', () => {
  let repository: FakeAlertChannelRepository;
  let service: AlertChannelsService;

  beforeEach(() => {
    repository = new FakeAlertChannelRepository();
    service = new AlertChannelsService(
      repository as unknown as AlertChannelRepository,
      {} as AlertNotifier,
      { configured: false } as EmailSender,
    );
  });

  it('generates a webhook secret when none is given, returned once and stored', async () => {
    const { channel, generatedSecret } = await service.create(webhook('ops'));
    expect(generatedSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(channel.secret).toBeUndefined();
    expect(repository.rows.get(channel.id)?.secret).toBe(generatedSecret);
    expect((await service.create(webhook('given', { secret: 'k' }))).generatedSecret).toBeUndefined();
  });

  it('answers 409 CONFLICT for a name that is taken, on create and on rename', async () => {
    await service.create(webhook('ops'));
    const { channel } = await service.create(webhook('dev'));
    expect(await refusal(service.create(webhook('OPS')))).toBe('409 CONFLICT');
    expect(await refusal(service.update(channel.id, { name: 'ops' }))).toBe('409 CONFLICT');
    expect(repository.rows.get(channel.id)?.name).toBe('dev');
  });

  it('refuses fields of another channel type, and email without SMTP, with 400', async () => {
    const log = Object.assign(new CreateAlertChannelDto(), { name: 'log', type: 'log', url: 'https://example.test' });
    expect(await refusal(service.create(log))).toBe('400 VALIDATION_FAILED');
    const email = Object.assign(new CreateAlertChannelDto(), { name: 'mail', type: 'email', recipients: ['a@b.test'] });
    expect(await refusal(service.create(email))).toBe('400 VALIDATION_FAILED');
    expect(repository.rows.size).toBe(0);
  });

  it('answers 404 for a channel that does not exist', async () => {
    expect(await refusal(service.update('nope', { name: 'x' }))).toBe('404 NOT_FOUND');
    expect(await refusal(service.remove('nope'))).toBe('404 NOT_FOUND');
  });
});
