import { cloudInitUserData } from './cloud-init-user-data';

const KEY_A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4TBbD5b18q921po0anOiIGyC5nqcL7cFFtdx0f1DDe alice@laptop';
const KEY_B = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 "quoted" comment';

describe('cloudInitUserData', () => {
  it('writes a #cloud-config with the hostname and the keys as JSON strings', () => {
    expect(cloudInitUserData({ hostname: 'web', sshAuthorizedKeys: [KEY_A, KEY_B] })).toBe(
      `#cloud-config\nhostname: "web"\nssh_authorized_keys:\n  - ${JSON.stringify(KEY_A)}\n  - ${JSON.stringify(KEY_B)}\n`,
    );
    expect(cloudInitUserData({})).toBe('#cloud-config\n');
  });

  it("passes the caller's user-data through as it is when there are no keys", () => {
    expect(cloudInitUserData({ userData: '#!/bin/sh\necho hi\n', hostname: 'web' })).toBe('#!/bin/sh\necho hi\n');
    expect(cloudInitUserData({ userData: '#cloud-config\npackages: [nginx]\n', sshAuthorizedKeys: [] })).toBe(
      '#cloud-config\npackages: [nginx]\n',
    );
  });

  it("puts the caller's user-data and the keys in two MIME parts, the keys' appending to lists", () => {
    const userData = '#cloud-config\nssh_authorized_keys: ["ssh-ed25519 AAAAmine"]\npackages: [nginx]';
    const text = cloudInitUserData({ userData, sshAuthorizedKeys: [KEY_A] });
    const boundary = /boundary="([^"]+)"/.exec(text)![1];
    const parts = text.split(`--${boundary}`);
    expect(parts).toHaveLength(4);
    expect(parts[0]).toMatch(/^Content-Type: multipart\/mixed; boundary="[^"]+"\nMIME-Version: 1.0\n\n$/);
    expect(parts[1]).toContain(`Content-Type: text/plain; charset="utf-8"\n`);
    expect(parts[1]).toContain(`\n\n${userData}\n\n`);
    expect(parts[2]).toContain('Content-Type: text/cloud-config');
    expect(parts[2]).toContain('Merge-Type: list(append)+dict(recurse_array)+str()\n');
    expect(parts[2]).toContain(`#cloud-config\nssh_authorized_keys:\n  - ${JSON.stringify(KEY_A)}\n`);
    expect(parts[3]).toBe('--\n');
    // The same request makes the same seed (a re-run after a crash), and the boundary is not in the parts.
    expect(cloudInitUserData({ userData, sshAuthorizedKeys: [KEY_A] })).toBe(text);
    expect(userData).not.toContain(boundary);
  });

  it('chooses another boundary when the user-data contains the first choice', () => {
    const first = /boundary="([^"]+)"/.exec(cloudInitUserData({ userData: 'x', sshAuthorizedKeys: [KEY_A] }))![1];
    expect(first).toMatch(/-0==$/);
    const tricky = `#!/bin/sh\n# ${first.replace(/-0==$/, '-0==')}\n`;
    const text = cloudInitUserData({ userData: tricky, sshAuthorizedKeys: [KEY_A] });
    const boundary = /boundary="([^"]+)"/.exec(text)![1];
    expect(tricky).not.toContain(boundary);
  });
});
