import { BlockList, isIP } from 'node:net';

/**
 * Which addresses the provider and the configure pods may fetch dataset and algorithm files from: any public
 * address, and a loopback, private or link-local one only when the operator allows it (a development cluster serves
 * its files on 127.0.0.1). Decided per connection, on the address actually connected to, so a name that resolves to
 * an internal address is refused as well as a literal one.
 */

const PRIVATE_RANGES = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  // Multicast and the reserved block (with broadcast): never a file server.
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE_RANGES.addSubnet(net, prefix, 'ipv4');
}
PRIVATE_RANGES.addAddress('::', 'ipv6');
PRIVATE_RANGES.addAddress('::1', 'ipv6');
PRIVATE_RANGES.addSubnet('fc00::', 7, 'ipv6');
PRIVATE_RANGES.addSubnet('fe80::', 10, 'ipv6');
PRIVATE_RANGES.addSubnet('ff00::', 8, 'ipv6');

/** An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) stands for that IPv4 address. */
function unmapped(ip: string): { ip: string; family: 'ipv4' | 'ipv6' } | undefined {
  const host = ip.replace(/^\[|\]$/g, '').toLowerCase();
  const family = isIP(host);
  if (family === 4) return { ip: host, family: 'ipv4' };
  if (family !== 6) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  return mapped?.[1] ? { ip: mapped[1], family: 'ipv4' } : { ip: host, family: 'ipv6' };
}

/** Internal addresses the operator allows: whole ranges, or one port of one address. */
export interface PrivateHostAllowList {
  readonly ranges: BlockList;
  /** `ip|port` (the IP as `unmapped` writes it). */
  readonly ports: ReadonlySet<string>;
  /** The entries as given, for logs and the configure pods' environment. */
  readonly text: string;
}

export const NO_PRIVATE_HOSTS: PrivateHostAllowList = { ranges: new BlockList(), ports: new Set(), text: '' };

const PORT = /^\d{1,5}$/;

/**
 * Parses a comma-separated allow list: `127.0.0.1`, `10.0.0.0/8`, `fd00::/8`, `127.0.0.1:8080`, `[::1]:8080`.
 * Throws naming the entry that is none of these. An empty text allows nothing.
 */
export function parsePrivateHostAllowList(text: string): PrivateHostAllowList {
  const ranges = new BlockList();
  const ports = new Set<string>();
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const entry of entries) {
    const bad = new Error(`not an IP address, CIDR range or address:port: ${JSON.stringify(entry)}`);
    const withPort = /^\[([^\]]+)\]:(\d+)$/.exec(entry) ?? /^([^:/]+):(\d+)$/.exec(entry);
    if (withPort) {
      const addr = unmapped(withPort[1]!);
      const port = Number(withPort[2]);
      if (!addr || !PORT.test(withPort[2]!) || port < 1 || port > 65535) throw bad;
      ports.add(`${addr.ip}|${port}`);
      continue;
    }
    const [ip, prefix, extra] = entry.split('/');
    const addr = unmapped(ip ?? '');
    if (!addr || extra !== undefined) throw bad;
    if (prefix === undefined) {
      ranges.addAddress(addr.ip, addr.family);
      continue;
    }
    const bits = Number(prefix);
    if (!/^\d{1,3}$/.test(prefix) || bits > (addr.family === 'ipv4' ? 32 : 128)) throw bad;
    ranges.addSubnet(addr.ip, bits, addr.family);
  }
  return { ranges, ports, text: entries.join(',') };
}

/** Whether a connection to `ip`:`port` may be made for a file download. */
export function addressPermitted(ip: string, port: number, allow: PrivateHostAllowList): boolean {
  const addr = unmapped(ip);
  if (!addr) return false;
  if (!PRIVATE_RANGES.check(addr.ip, addr.family)) return true;
  return allow.ranges.check(addr.ip, addr.family) || allow.ports.has(`${addr.ip}|${port}`);
}

/** The port a URL connects to. */
export function urlPort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/**
 * Whether a URL's host as written may be fetched: a literal address is decided here; `localhost` counts as
 * 127.0.0.1 and ::1; any other name is decided when it resolves.
 */
export function urlHostPermitted(url: URL, allow: PrivateHostAllowList): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = urlPort(url);
  if (host === 'localhost' || host.endsWith('.localhost')) {
    return addressPermitted('127.0.0.1', port, allow) || addressPermitted('::1', port, allow);
  }
  return isIP(host) === 0 || addressPermitted(host, port, allow);
}
