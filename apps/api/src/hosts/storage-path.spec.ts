import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storagePathProblem, symlinkProblem } from './storage-path';

const ROOTS = ['/var/lib/limen', '/srv/pools'];

describe('storagePathProblem', () => {
  it.each(['/var/lib/limen', '/var/lib/limen/pool', '/srv/pools/hv-2/a.b_c-d', '/var/lib/limen/..pool'])(
    'accepts %s',
    (path) => {
      expect(storagePathProblem(path, ROOTS)).toBeNull();
    },
  );

  it.each([
    ['/var/lib/limen/../../etc', /normalised/],
    ['/var/lib/limen/./pool', /normalised/],
    ['/var/lib/limen//pool', /normalised/],
    ['/var/lib/limen/pool/', /normalised/],
    ['/var/lib/limen/..', /normalised/],
    ['relative', /absolute/],
    ['var/lib/limen/pool', /absolute/],
    ['', /absolute/],
    ['/etc', /inside one of the storage roots \(STORAGE_ROOTS: \/var\/lib\/limen, \/srv\/pools\)/],
    ['/', /normalised/],
    ['/var/lib/limenx', /inside one of/],
    ['/var/lib', /inside one of/],
    ["/var/lib/limen/p'><source dir='/etc", /absolute path of/],
    ['/var/lib/limen/a&b', /absolute path of/],
    ['/var/lib/limen/a b', /absolute path of/],
    ['/var/lib/limen/pool\n', /absolute path of/],
    ['/var/lib/limen/p\0', /absolute path of/],
  ])('refuses %j', (path, message) => {
    expect(storagePathProblem(path, ROOTS)).toMatch(message);
  });

  it('refuses a 5000-character path', () => {
    expect(storagePathProblem(`/var/lib/limen/${'a'.repeat(5000)}`, ROOTS)).toMatch(/at most 255 characters/);
  });
});

describe('symlinkProblem', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'limen-storage-path-'));
    mkdirSync(join(dir, 'root/inside'), { recursive: true });
    mkdirSync(join(dir, 'outside'));
    symlinkSync(join(dir, 'outside'), join(dir, 'root/escape'));
    symlinkSync(join(dir, 'root/inside'), join(dir, 'root/alias'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a folder that resolves inside a root, existing or not yet', async () => {
    const roots = [join(dir, 'root')];
    expect(await symlinkProblem(join(dir, 'root/inside'), roots)).toBeNull();
    expect(await symlinkProblem(join(dir, 'root/new/pool'), roots)).toBeNull();
    expect(await symlinkProblem(join(dir, 'root/alias/pool'), roots)).toBeNull();
    // A root that does not exist yet: what will be created is inside it.
    expect(await symlinkProblem(join(dir, 'later/pool'), [join(dir, 'later')])).toBeNull();
  });

  it('refuses a folder whose path leaves the roots through a symbolic link', async () => {
    const roots = [join(dir, 'root')];
    expect(await symlinkProblem(join(dir, 'root/escape'), roots)).toMatch(/symbolic link/);
    expect(await symlinkProblem(join(dir, 'root/escape/pool'), roots)).toMatch(/symbolic link/);
  });
});
