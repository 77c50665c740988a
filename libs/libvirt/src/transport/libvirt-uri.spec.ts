import { libvirtUriRefusal } from './libvirt-uri';

describe('libvirtUriRefusal', () => {
  it.each([
    'qemu:///system',
    'qemu:///session',
    'qemu+unix:///system',
    'qemu+ssh://hv-2/system',
    'qemu+ssh://limen@hv-2.example.com:2222/system',
    'qemu+ssh://root@127.0.0.1/system?no_tty=1',
    'qemu+ssh://limen@[2001:db8::1]:22/system?no_tty=1&mode=direct&proxy=native',
    'qemu+tls://hv-3.example.com/system',
    'qemu+tcp://127.0.0.1:16509/system',
  ])('accepts %s', (uri) => {
    expect(libvirtUriRefusal(uri)).toBeNull();
  });

  it.each([
    ['a command to run instead of ssh', 'qemu+ssh://root@127.0.0.1/system?command=/bin/sh'],
    ['a command on the local URI', 'qemu:///system?command=/tmp/x'],
    ['a percent-encoded parameter name', 'qemu+ssh://root@127.0.0.1/system?%63ommand=/bin/sh'],
    ['a percent-encoded value', 'qemu+ssh://root@127.0.0.1/system?no_tty=%31'],
    ['a socket path', 'qemu:///system?socket=/tmp/evil.sock'],
    ['a remote netcat program', 'qemu+ssh://h/system?netcat=/tmp/x'],
    ['an ssh key file', 'qemu+ssh://h/system?keyfile=/root/.ssh/id_rsa'],
    ['a known_hosts file', 'qemu+ssh://h/system?known_hosts=/tmp/kh'],
    ['a PKI folder', 'qemu+tls://h/system?pkipath=/tmp/pki'],
    ['another driver by name', 'qemu+ssh://h/system?name=test:///etc/passwd'],
    ['TLS verification turned off', 'qemu+tls://h/system?no_verify=1'],
    ['an allowed parameter given twice', 'qemu+ssh://h/system?no_tty=1&no_tty=0'],
    ['an allowed parameter hiding another behind ;', 'qemu+ssh://h/system?no_tty=1;command=/bin/sh'],
    ['an allowed parameter with a value outside its list', 'qemu+ssh://h/system?mode=/bin/sh'],
    ['a parameter without a value', 'qemu+ssh://h/system?no_tty'],
    ['an empty query', 'qemu:///system?'],
    ['a fragment', 'qemu:///system#command=/bin/sh'],
    ['shell characters in the user', "qemu+ssh://a';id;'@h/system"],
    ['a user that is an ssh option', 'qemu+ssh://-oProxyCommand=sh@h/system'],
    ['a host that is an ssh option', 'qemu+ssh://-oProxyCommand=sh/system'],
    ['a newline', 'qemu:///system\n'],
    ['a newline inside', 'qemu+ssh://h/system\n?command=/bin/sh'],
    ['a space', 'qemu:///system ?command=x'],
    ['a NUL', 'qemu:///system\0'],
    ['non-ASCII', 'qemu+ssh://hö/system'],
    ['a host on the local transport', 'qemu://h/system'],
    ['a remote transport without a host', 'qemu+ssh:///system'],
    ['a port out of range', 'qemu+tcp://h:70000/system'],
    ['an unknown transport', 'qemu+ext:///system?command=/bin/sh'],
    ['another hypervisor driver', 'test:///default'],
    ['a path other than system or session', 'qemu:///embed?root=/tmp'],
    ['an extra path segment', 'qemu+ssh://h/system/../x'],
    ['a malformed IPv6 address', 'qemu+ssh://[::g]/system'],
    ['an over-long value', `qemu+ssh://${'a'.repeat(600)}/system`],
  ])('security 11.2: refuses %s', (_what, uri) => {
    expect(libvirtUriRefusal(uri)).toEqual(expect.any(String));
  });

  it('never repeats the URI in its reason', () => {
    const reason = libvirtUriRefusal('qemu+ssh://secret-user@h/system?command=/tmp/payload-x');
    expect(reason).not.toMatch(/secret-user|payload-x/);
  });
});
