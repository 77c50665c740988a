import { getMetadataArgsStorage, Repository } from 'typeorm';
import { AuditEntry } from './audit-entry.entity';
import { AuditService, NewAuditEntry } from './audit.service';

/** A repository that keeps what it is given, with the entity's real column definitions. */
function capturingRepository(saved: NewAuditEntry[]): Repository<AuditEntry> {
  const columns = getMetadataArgsStorage()
    .columns.filter((c) => c.target === AuditEntry)
    .map((c) => ({
      propertyName: c.propertyName,
      length: c.options.length === undefined ? '' : String(c.options.length),
      type: c.options.type,
    }));
  // insertEntity's query builder chain: insert().into().values(entry).execute()
  const insertBuilder = {
    insert: () => insertBuilder,
    into: () => insertBuilder,
    values: (entry: NewAuditEntry) => (saved.push(entry), insertBuilder),
    execute: async () => ({ raw: [{}] }),
  };
  const manager = { createQueryBuilder: () => insertBuilder };
  return {
    metadata: { columns },
    manager,
    create: (entry: NewAuditEntry) => entry,
  } as unknown as Repository<AuditEntry>;
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
describe('AuditService.record', () => {
  it('fits request-derived values into their columns instead of losing the record', async () => {
    const saved: NewAuditEntry[] = [];
    const audit = new AuditService(capturingRepository(saved));
    await audit.record({
      ...entry,
      targetId: `${'\u{1f600}'.repeat(40)}${'a'.repeat(300)}`,
      actorUsername: 'ali\u0000ce',
      userAgent: 'x'.repeat(600),
      details: { name: ['a\u0000b', { 'k\u0000': '\ud800' }] },
    });
    expect(saved).toHaveLength(1);
    const [stored] = saved;
    expect(Array.from(stored.targetId!)).toHaveLength(64);
    expect(stored.targetId!.startsWith('\u{1f600}'.repeat(40))).toBe(true);
    expect(stored.actorUsername).toBe('ali\ufffdce');
    expect(stored.userAgent).toHaveLength(512);
    expect(stored.details).toEqual({ name: ['a\ufffdb', { 'k\ufffd': '\ufffd' }] });
    expect(stored.action).toBe('vms.remove');
  });
});
