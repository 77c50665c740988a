import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IsoWriterProgram, SeedIsoSpec, SeedIsoWriter, validateSeedIsoSpec } from './seed-iso';

/**
 * A fake genisoimage (node -e): writes to its `-output` a JSON record of its argv and of the
 * files it was given, or fails with exit 3 when told to.
 */
function fakeWriter(behaviour: 'record' | 'fail'): IsoWriterProgram {
  const script = `
    const fs = require('node:fs');
    const argv = process.argv.slice(1);
    if (${JSON.stringify(behaviour)} === 'fail') { process.stderr.write('boom'); process.exit(3); }
    const files = Object.fromEntries(argv.slice(6).map((f) => [f, fs.readFileSync(f, 'utf8')]));
    fs.writeFileSync(argv[argv.indexOf('-output') + 1], JSON.stringify({ argv, files }), { mode: 0o600 });`;
  return { file: process.execPath, args: ['-e', script, '--'] };
}

const MISSING: IsoWriterProgram = { file: '/nonexistent/genisoimage', args: [] };

interface Recorded {
  argv: string[];
  files: Record<string, string>;
}

describe('validateSeedIsoSpec', () => {
  const valid: SeedIsoSpec = {
    path: '/var/lib/limen/vms/vm-1/seed.iso',
    metaData: 'instance-id: vm-1\n',
    userData: '#cloud-config\n',
  };

  it('accepts an absolute, normalized .iso path with string documents', () => {
    expect(() => validateSeedIsoSpec(valid)).not.toThrow();
    expect(() => validateSeedIsoSpec({ ...valid, metaData: '', networkConfig: 'version: 2\n' })).not.toThrow();
  });

  it.each([
    ['relative', 'vms/seed.iso'],
    ['empty', ''],
    ['without .iso', '/var/lib/limen/vms/seed.img'],
    ['with a NUL', '/var/lib/limen/vms/se\0ed.iso'],
    ['with a newline', '/var/lib/limen/vms/seed\n.iso'],
    ['with a carriage return', '/var/lib/limen/vms/seed\r.iso'],
    ['with ..', '/var/lib/limen/vms/../../../etc/seed.iso'],
    ['with a doubled slash', '/var/lib//seed.iso'],
    ['a folder', '/var/lib/limen/vms/seed.iso/'],
  ])('rejects a path %s', (_label, path) => {
    expect(() => validateSeedIsoSpec({ ...valid, path })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('rejects documents that are not strings', () => {
    const bad = (patch: object): SeedIsoSpec => ({ ...valid, ...patch }) as SeedIsoSpec;
    for (const spec of [
      bad({ metaData: undefined }),
      bad({ userData: 42 }),
      bad({ networkConfig: null }),
      bad({ path: 7 }),
    ]) {
      expect(() => validateSeedIsoSpec(spec)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});

describe('SeedIsoWriter', () => {
  let dir: string;
  const hostile = `#cloud-config\nhostname: "x'; $(reboot) \`id\`"\n</xml> ✓ -output /etc/passwd\n`;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'seed-iso-spec-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('passes only fixed file names and options to the writer, and renames the image into place', async () => {
    const path = join(dir, 'vm-1', 'seed.iso');
    const volume = await new SeedIsoWriter([fakeWriter('record')]).create({
      path,
      metaData: 'instance-id: vm-1\n',
      userData: hostile,
      networkConfig: 'version: 2\n',
    });

    const recorded = JSON.parse(readFileSync(path, 'utf8')) as Recorded;
    const [outputFlag, output, ...options] = recorded.argv.slice(0, 6);
    const documents = recorded.argv.slice(6);
    expect(outputFlag).toBe('-output');
    expect(output).toMatch(new RegExp(`^${join(dir, 'vm-1')}/\\.seed\\.iso\\.[0-9a-f]+\\.partial$`));
    expect(options).toEqual(['-volid', 'cidata', '-joliet', '-rock']);
    expect(documents.map((file) => file.split('/').pop())).toEqual(['meta-data', 'user-data', 'network-config']);
    expect(Object.values(recorded.files)).toEqual(['instance-id: vm-1\n', hostile, 'version: 2\n']);

    expect(readdirSync(join(dir, 'vm-1'))).toEqual(['seed.iso']);
    expect(volume).toMatchObject({ path, format: 'raw', virtualSizeBytes: statSync(path).size });
    // The scratch folder holding the documents is gone.
    expect(existsSync(documents[0])).toBe(false);
  });

  it("security 11.5: a seed (the user's cloud-init) is its owner's alone, in a folder only QEMU's group may enter", async () => {
    const umask = process.umask(0o022);
    try {
      const path = join(dir, 'vm-2', 'seed.iso');
      await new SeedIsoWriter([fakeWriter('record')]).create(
        { path, metaData: '', userData: 'password: hunter2' },
        64055,
      );
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'vm-2')).mode & 0o777).toBe(0o750);
      expect(statSync(join(dir, 'vm-2')).gid).toBe(64055);
    } finally {
      process.umask(umask);
    }
  });

  it('omits network-config when not given and replaces a previous seed', async () => {
    const path = join(dir, 'seed.iso');
    writeFileSync(path, 'previous seed');
    await new SeedIsoWriter([fakeWriter('record')]).create({ path, metaData: '', userData: '' });
    const recorded = JSON.parse(readFileSync(path, 'utf8')) as Recorded;
    expect(recorded.argv.slice(6).map((file) => file.split('/').pop())).toEqual(['meta-data', 'user-data']);
  });

  it('falls back to the next writer when one is not installed', async () => {
    const path = join(dir, 'seed.iso');
    await new SeedIsoWriter([MISSING, fakeWriter('record')]).create({ path, metaData: 'm', userData: 'u' });
    expect(existsSync(path)).toBe(true);
  });

  it('fails with OPERATION_FAILED, keeps the previous seed and leaves no partial file', async () => {
    const path = join(dir, 'seed.iso');
    writeFileSync(path, 'previous seed');
    const spec = { path, metaData: 'm', userData: 'u' };
    await expect(new SeedIsoWriter([fakeWriter('fail'), fakeWriter('record')]).create(spec)).rejects.toMatchObject({
      code: 'OPERATION_FAILED',
    });
    await expect(new SeedIsoWriter([MISSING]).create(spec)).rejects.toMatchObject({ code: 'OPERATION_FAILED' });
    expect(readFileSync(path, 'utf8')).toBe('previous seed');
    expect(readdirSync(dir)).toEqual(['seed.iso']);
  });

  it('validates before touching the disk', async () => {
    const path = join(dir, 'sub', 'seed.img');
    await expect(
      new SeedIsoWriter([fakeWriter('record')]).create({ path, metaData: 'm', userData: 'u' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(existsSync(join(dir, 'sub'))).toBe(false);
  });
});
