import { isIPv4, isIPv6 } from 'node:net';

/**
 * The libvirt connection URIs LIMEN accepts: one rule for LIBVIRT_URI, the hosts API and every
 * virsh process this library starts.
 *
 * libvirt acts on a URI's query: `command` names the program it runs instead of ssh, `netcat` the
 * one run on the far side, and `socket`, `keyfile`, `known_hosts`, `pkipath` and `name` name files
 * or drivers. Whoever could set any of them could run a program as the api's user (root in the
 * documented install). So only these shapes pass:
 *
 *   qemu:///system            qemu:///session            (the local libvirtd; also qemu+unix://)
 *   qemu+ssh://[user@]host[:port]/system|session
 *   qemu+tls://[user@]host[:port]/system|session
 *   qemu+tcp://[user@]host[:port]/system|session
 *
 * with printable ASCII only, no percent escapes (libvirt decodes them, so `%63ommand` would be
 * `command`), no fragment, and at most the query parameters below, each once, with a value from
 * a fixed list: none of them can name a program or a file.
 */
const ALLOWED_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  /** ssh: never prompt on a terminal (there is none). */
  no_tty: ['0', '1'],
  /** Which daemon the far side connects to (monolithic libvirtd or modular virtqemud). */
  mode: ['auto', 'legacy', 'direct'],
  /** How ssh reaches the far side's socket: virt-ssh-helper, nc, or whichever exists. */
  proxy: ['auto', 'native', 'netcat'],
};

const LOCAL_TRANSPORTS = new Set(['', 'unix']);
const SHAPE = /^qemu(?:\+(ssh|tls|tcp|unix))?:\/\/(?:([^@/?#]*)@)?([^/?#]*)\/(system|session)(?:\?(.*))?$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;
const HOST_AND_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const MAX_LENGTH = 512;

const SUPPORTED_LIBVIRT_URIS =
  'qemu:///system, qemu:///session, or qemu+ssh|tls|tcp://[user@]host[:port]/system|session';

/**
 * Why LIMEN refuses this libvirt URI, or null when it is one of the supported forms. The reason
 * never repeats the URI or any part of it, so it can go into a response or a log as it is.
 */
export function libvirtUriRefusal(uri: string): string | null {
  if (uri.length > MAX_LENGTH) return `is longer than ${MAX_LENGTH} characters`;
  if (!/^[\x21-\x7e]+$/.test(uri)) return 'may only hold printable ASCII without spaces';
  if (uri.includes('%')) return 'may not hold percent escapes';
  if (uri.includes('#')) return 'may not have a fragment';
  const shape = SHAPE.exec(uri);
  if (!shape) return `must be ${SUPPORTED_LIBVIRT_URIS}`;
  const [, transport = '', user, authority, , query] = shape;

  if (LOCAL_TRANSPORTS.has(transport)) {
    if (user !== undefined || authority !== '') return 'must not name a user or host for the local libvirtd';
  } else {
    if (user !== undefined && !USER.test(user)) return 'user must be letters, digits, . _ - (not starting with - or .)';
    const hostAndPort = HOST_AND_PORT.exec(authority);
    if (!hostAndPort) return `must name a host for qemu+${transport}`;
    const [, host, port] = hostAndPort;
    const validHost = host.startsWith('[') ? isIPv6(host.slice(1, -1)) : isIPv4(host) || DNS_NAME.test(host);
    if (!validHost) return 'host must be a DNS name, an IPv4 address or a bracketed IPv6 address';
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return 'port must be 1-65535';
  }

  if (query === undefined) return null;
  const seen = new Set<string>();
  for (const pair of query.split('&')) {
    const separator = pair.indexOf('=');
    const name = separator < 0 ? pair : pair.slice(0, separator);
    const allowed = Object.hasOwn(ALLOWED_PARAMETERS, name) ? ALLOWED_PARAMETERS[name] : undefined;
    if (!allowed)
      return `may only carry the query parameters ${Object.keys(ALLOWED_PARAMETERS).join(', ')} (others can name programs or files)`;
    if (seen.has(name)) return `names the query parameter ${name} twice`;
    seen.add(name);
    if (separator < 0 || !allowed.includes(pair.slice(separator + 1)))
      return `query parameter ${name} must be one of ${allowed.join(', ')}`;
  }
  return null;
}

/** Whether the URI is the libvirtd of this machine (qemu:///…, qemu+unix:///…): its host files and routes are ours to read. */
export function isLocalLibvirtUri(uri: string): boolean {
  return /^qemu(\+unix)?:\/\/\/(system|session)(\?|$)/.test(uri);
}
