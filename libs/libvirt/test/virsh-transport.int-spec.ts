import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HypervisorError } from '../src';
import { VirshPool } from '../src/transport/virsh-pool';
import { makeRunDir } from './guest-fixture';

/** Strings a user could put into a VM title, description or file name. */
const HOSTILE = [
  `it's`,
  `"double" and 'single'`,
  `back\\slash\\`,
  `trailing backslash \\`,
  `semi; list --all`,
  `; destroy --domain x`,
  `$(touch /tmp/limen-pwned)`,
  '`touch /tmp/limen-pwned`',
  `--destroy`,
  `--help`,
  `-- --all`,
  `#not a comment`,
  `   leading and trailing spaces   `,
  `unicode ✓ 日本語 émoji 🎉`,
  `\\'\\"`,
  `'`,
  `"`,
  `''`,
  `=`,
  `a=b --c=d`,
  `x`.repeat(3000),
  ``,
];

describe('virsh transport against real virsh', () => {
  const pool = new VirshPool({ uri: 'qemu:///system', size: 2 });
  const run = makeRunDir('virsh-transport');
  const vmId = randomUUID();
  const domain = `limen-${vmId}`;

  beforeAll(() => {
    // A minimal defined (never started) domain to run desc/domdisplay on.
    const xml = join(run.dir, 'domain.xml');
    execFileSync('bash', [
      '-c',
      `cat > "$1" <<XML
<domain type='qemu'><name>$2</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
virsh -q -c qemu:///system define "$1" >/dev/null`,
      '_',
      xml,
      domain,
    ]);
  });

  afterAll(async () => {
    await pool.run({ name: 'undefine', options: { domain } }).catch(() => undefined);
    await pool.close();
    run.cleanup();
  });

  it.each(HOSTILE.map((s) => [s.length > 60 ? `${s.slice(0, 20)}... (${s.length} chars)` : s, s]))(
    'echo returns %j unchanged, as one argument',
    async (_label, value) => {
      expect(await pool.run({ name: 'echo', rest: [value] })).toBe(value);
      // --shell re-quotes each argument it received: exactly one argument arrived.
      const shellQuoted = await pool.run({ name: 'echo', flags: ['shell'], rest: [value, 'END'] });
      expect(shellQuoted.endsWith(' END')).toBe(true);
    },
  );

  it('stores hostile titles and descriptions verbatim and runs no other command', async () => {
    for (const value of HOSTILE.filter((s) => s.length > 0)) {
      await pool.run({ name: 'desc', options: { domain, 'new-desc': value }, flags: ['config', 'title'] });
      await pool.run({ name: 'desc', options: { domain, 'new-desc': value }, flags: ['config'] });
      // Read back through a separate process, not the session under test.
      const title = execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'desc', domain, '--title', '--config'], {
        encoding: 'utf8',
      });
      const description = execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'desc', domain, '--config'], {
        encoding: 'utf8',
      });
      // libvirt trims titles and descriptions it prints; compare what it kept.
      expect(title.trim()).toBe(value.trim());
      expect(description.trim()).toBe(value.trim());
    }
    // Nothing was destroyed, undefined or created along the way.
    const state = execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'domstate', domain], { encoding: 'utf8' });
    expect(state.trim()).toBe('shut off');
    expect(existsSync('/tmp/limen-pwned')).toBe(false);
  });

  it('treats a hostile value as the value of its option, never as a domain or option', async () => {
    await expect(
      pool.run({ name: 'domdisplay', options: { domain: `${domain}; destroy ${domain}` } }),
    ).rejects.toMatchObject({ code: 'DOMAIN_NOT_FOUND' });
    await expect(pool.run({ name: 'domstate', options: { domain: '--all' } })).rejects.toMatchObject({
      code: 'DOMAIN_NOT_FOUND',
    });
  });

  it('refuses control characters, which virsh reads through readline as editing keys', async () => {
    for (const value of ['line1\nline2', 'tab\there', '\u0015erase line', 'esc\u001b[A', 'del\u007f']) {
      await expect(pool.run({ name: 'echo', rest: [value] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  it('attributes each error to the command that caused it, under concurrency', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        i % 3 === 0
          ? pool.run({ name: 'domstate', options: { domain: `limen-missing-${i}` } })
          : pool.run({ name: 'echo', rest: [`value-${i}`] }),
      ),
    );
    results.forEach((result, i) => {
      if (i % 3 === 0) {
        expect(result.status).toBe('rejected');
        expect(String((result as PromiseRejectedResult).reason.message)).toContain(`limen-missing-${i}`);
      } else {
        expect(result).toEqual({ status: 'fulfilled', value: `value-${i}` });
      }
    });
  });

  it('times out a command, replaces the session and keeps working', async () => {
    const slow = new VirshPool({ uri: 'qemu:///system', size: 1, commandTimeoutMs: 10_000 });
    try {
      // `event --timeout 5` blocks for 5 s: longer than the 300 ms allowed here. It waits for an event
      // nothing raises (no block thresholds are set): any domain's lifecycle event would end it early.
      await expect(
        slow.run({ name: 'event', options: { event: 'block-threshold', timeout: 5 } }, { timeoutMs: 300 }),
      ).rejects.toMatchObject({ code: 'TIMEOUT' });
      expect(await slow.run({ name: 'echo', rest: ['alive'] })).toBe('alive');
    } finally {
      await slow.close();
    }
  });

  it('applies back-pressure: a full queue rejects with BUSY instead of growing', async () => {
    const small = new VirshPool({ uri: 'qemu:///system', size: 1, maxQueue: 5 });
    try {
      const calls = Array.from({ length: 20 }, (_, i) => small.run({ name: 'echo', rest: [String(i)] }));
      const settled = await Promise.allSettled(calls);
      const busy = settled.filter(
        (r) => r.status === 'rejected' && HypervisorError.is((r as PromiseRejectedResult).reason, 'BUSY'),
      );
      expect(busy.length).toBeGreaterThan(0);
      expect(settled.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(5);
    } finally {
      await small.close();
    }
  });
});
