import { getMetadataArgsStorage } from 'typeorm';
import { AuditEntry } from './audit-entry.entity';
import type { AuditRepository, NewAuditEntry } from './audit.repository';
import { AuditService } from './audit.service';
import { ColumnShape, fitToColumns } from './storable';

/** The entity's real column definitions, as TypeORM's metadata would give them. */
const AUDIT_COLUMNS: ColumnShape[] = getMetadataArgsStorage()
  .columns.filter((c) => c.target === AuditEntry)
  .map((c) => ({
    propertyName: c.propertyName,
    length: c.options.length === undefined ? '' : String(c.options.length),
    type: c.options.type,
  }));

/** Keeps what it is given, or fails every append. */
class FakeAuditRepository implements Pick<AuditRepository, 'append'> {
  readonly saved: NewAuditEntry[] = [];
  constructor(private readonly failure?: Error) {}

  async append(entry: NewAuditEntry): Promise<void> {
    if (this.failure) throw this.failure;
    this.saved.push(entry);
  }
}

const entry: NewAuditEntry = {
  actorId: null,
  actorUsername: null,
  action: 'vms.remove',
  targetType: 'vms',
  targetId: null,
  result: 'failure',
  statusCode: 400,
  errorCode: 'VALIDATION_FAILED',
  requestId: 'r-1',
  ip: '127.0.0.1',
  userAgent: null,
  before: null,
  after: null,
  details: null,
};

// Found by test/reliability/property-http-surface.spec.ts: DELETE /api/v1/vms/<300 characters>, a
// path id with %00, or a login whose username held a NUL left no audit record (the insert failed).
describe('fitToColumns (AuditRepository.append)', () => {
  it('fits request-derived values into their columns instead of losing the record', () => {
    const stored = fitToColumns(
      {
        ...entry,
        targetId: `${'\u{1f600}'.repeat(40)}${'a'.repeat(300)}`,
        actorUsername: 'ali\u0000ce',
        userAgent: 'x'.repeat(600),
        details: { name: ['a\u0000b', { 'k\u0000': '\ud800' }] },
      },
      AUDIT_COLUMNS,
    );
    expect(Array.from(stored.targetId!)).toHaveLength(64);
    expect(stored.targetId!.startsWith('\u{1f600}'.repeat(40))).toBe(true);
    expect(stored.actorUsername).toBe('ali\ufffdce');
    expect(stored.userAgent).toHaveLength(512);
    expect(stored.details).toEqual({ name: ['a\ufffdb', { 'k\ufffd': '\ufffd' }] });
    expect(stored.action).toBe('vms.remove');
  });
});

describe('AuditService.record', () => {
  it('appends the record through the repository', async () => {
    const entries = new FakeAuditRepository();
    await new AuditService(entries as unknown as AuditRepository).record(entry);
    expect(entries.saved).toEqual([entry]);
  });

  it('never fails the request it describes when the record cannot be written', async () => {
    const audit = new AuditService(new FakeAuditRepository(new Error('database down')) as unknown as AuditRepository);
    jest.spyOn(audit['logger'], 'error').mockImplementation(() => undefined);
    await expect(audit.record(entry)).resolves.toBeUndefined();
    expect(audit['logger'].error).toHaveBeenCalled();
  });
});
