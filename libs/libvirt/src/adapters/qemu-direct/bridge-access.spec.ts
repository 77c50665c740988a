import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NicSpec } from '../../models';
import { BridgeAccess } from './bridge-access';

const bridgeNic = (bridge: string, vlan?: number): NicSpec => ({
  id: 'nic-1',
  mac: '52:54:00:00:00:01',
  attachment: { type: 'bridge', bridge, ...(vlan !== undefined ? { vlan } : {}) },
});

describe('BridgeAccess', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bridge-acl-'));
    mkdirSync(join(dir, 'net', 'br0', 'bridge'), { recursive: true });
    mkdirSync(join(dir, 'net', 'eth0'), { recursive: true });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finds bridges in /sys/class/net and refuses names that are no interface names', async () => {
    const access = new BridgeAccess({ sysNet: join(dir, 'net') });
    expect(await access.hasBridge('br0')).toBe(true);
    expect(await access.hasBridge('eth0')).toBe(false);
    expect(await access.hasBridge('br1')).toBe(false);
    for (const name of ['..', 'br0/../eth0', 'a b', 'br0;id', ''])
      await expect(access.hasBridge(name)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('reads qemu-bridge-helper ACLs as the helper does: deny wins, includes, comments', async () => {
    writeFileSync(join(dir, 'bridge.conf'), '# LIMEN\nallow br0\ninclude extra.conf\n');
    writeFileSync(join(dir, 'extra.conf'), 'allow all\ndeny virbr0 # not that one\n');
    const access = new BridgeAccess({ aclPath: join(dir, 'bridge.conf'), isRoot: false });
    expect(await access.helperAllows('br0')).toBe(true);
    expect(await access.helperAllows('br7')).toBe(true);
    expect(await access.helperAllows('virbr0')).toBe(false);
    const none = new BridgeAccess({ aclPath: join(dir, 'missing.conf'), isRoot: false });
    expect(await none.helperAllows('br0')).toBe(false);
  });

  it('uses taps as root, the helper where its ACL allows, and refuses the rest with the setup to do', async () => {
    writeFileSync(join(dir, 'bridge.conf'), 'allow br0\n');
    const aclPath = join(dir, 'bridge.conf');
    expect(await new BridgeAccess({ aclPath, isRoot: true }).modeFor([bridgeNic('br9', 5)])).toBe('tap');
    const user = new BridgeAccess({ aclPath, isRoot: false });
    expect(await user.modeFor([])).toBe('tap');
    expect(await user.modeFor([bridgeNic('br0')])).toBe('helper');
    await expect(user.modeFor([bridgeNic('br9')])).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringContaining(`"allow br9" in ${aclPath}`),
    });
    await expect(user.modeFor([bridgeNic('br0', 5)])).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringContaining('VLAN'),
    });
  });
});
