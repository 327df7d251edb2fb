/**
 * Which IP addresses a webhook may not reach: loopback, private, shared, link-local, unique-local,
 * multicast, unspecified, reserved and documentation ranges. IPv6 forms that carry an IPv4 address
 * (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
 * `2002::/16`) are judged by the IPv4 address inside, so `[::127.0.0.1]` is loopback.
 */
import { isIP } from 'node:net';

interface Range {
  bytes: number[];
  prefix: number;
  name: string;
}

function v4(text: string): number[] {
  return text.split('.').map(Number);
}

const IPV4_BLOCKED: readonly Range[] = (
  [
    ['0.0.0.0', 8, 'this network'],
    ['10.0.0.0', 8, 'private'],
    ['100.64.0.0', 10, 'shared address space'],
    ['127.0.0.0', 8, 'loopback'],
    ['169.254.0.0', 16, 'link-local'],
    ['172.16.0.0', 12, 'private'],
    ['192.0.0.0', 24, 'IETF protocol assignments'],
    ['192.0.2.0', 24, 'documentation'],
    ['192.88.99.0', 24, '6to4 relay'],
    ['192.168.0.0', 16, 'private'],
    ['198.18.0.0', 15, 'benchmarking'],
    ['198.51.100.0', 24, 'documentation'],
    ['203.0.113.0', 24, 'documentation'],
    ['224.0.0.0', 4, 'multicast'],
    ['240.0.0.0', 4, 'reserved'],
  ] as const
).map(([net, prefix, name]) => ({ bytes: v4(net), prefix, name }));

const IPV6_BLOCKED: readonly Range[] = (
  [
    ['::', 128, 'unspecified'],
    ['::1', 128, 'loopback'],
    ['100::', 64, 'discard-only'],
    ['64:ff9b:1::', 48, 'local-use NAT64'],
    ['2001::', 23, 'IETF protocol assignments'],
    ['2001:db8::', 32, 'documentation'],
    ['3fff::', 20, 'documentation'],
    ['fc00::', 7, 'unique-local'],
    ['fe80::', 10, 'link-local'],
    ['fec0::', 10, 'site-local'],
    ['ff00::', 8, 'multicast'],
  ] as const
).map(([net, prefix, name]) => ({ bytes: ipv6Bytes(net), prefix, name }));

/** IPv6 prefixes whose addresses embed an IPv4 address, and the byte where it starts. */
const IPV4_CARRIERS: readonly (Range & { at: number })[] = (
  [
    ['::ffff:0:0', 96, 'IPv4-mapped', 12],
    ['::ffff:0:0:0', 96, 'IPv4-translated', 12],
    ['::', 96, 'IPv4-compatible', 12],
    ['64:ff9b::', 96, 'NAT64', 12],
    ['2002::', 16, '6to4', 2],
  ] as const
).map(([net, prefix, name, at]) => ({ bytes: ipv6Bytes(net), prefix, name, at }));

/** The 16 bytes of an IPv6 address in any textual form (`::`, embedded dotted quad, zone id). */
export function ipv6Bytes(text: string): number[] {
  const address = text.replace(/%.*$/, '');
  const [head = '', tail] = address.split('::', 2) as [string, string | undefined];
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = v4(piece);
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(Number.parseInt(piece, 16));
      }
    }
    return out;
  };
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const words = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  return words.flatMap((w) => [(w >> 8) & 0xff, w & 0xff]);
}

function inRange(bytes: readonly number[], range: Range): boolean {
  for (let bit = 0; bit < range.prefix; bit += 8) {
    const left = Math.min(8, range.prefix - bit);
    const mask = (0xff << (8 - left)) & 0xff;
    if (((bytes[bit / 8] ?? 0) & mask) !== ((range.bytes[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

function blockedIpv4(bytes: readonly number[]): string | null {
  if (bytes.every((b) => b === 255)) return 'broadcast';
  return IPV4_BLOCKED.find((range) => inRange(bytes, range))?.name ?? null;
}

/**
 * Why `address` (an IPv4 or IPv6 literal) may not be a webhook target, or null when it is a public
 * address. Anything that is not an IP address is refused too.
 */
export function blockedAddressReason(address: string): string | null {
  const family = isIP(address.replace(/%.*$/, ''));
  if (family === 4) return blockedIpv4(v4(address));
  if (family !== 6) return 'not an IP address';
  const bytes = ipv6Bytes(address);
  // Exact ranges first: `::` and `::1` are not IPv4-compatible forms of 0.0.0.0 and 0.0.0.1.
  const own = IPV6_BLOCKED.find((range) => inRange(bytes, range));
  if (own) return own.name;
  for (const carrier of IPV4_CARRIERS) {
    if (!inRange(bytes, carrier)) continue;
    const inner = blockedIpv4(bytes.slice(carrier.at, carrier.at + 4));
    if (inner) return `${carrier.name} ${inner}`;
    // IPv4-compatible addresses are deprecated; no honest target uses one.
    if (carrier.name === 'IPv4-compatible') return carrier.name;
  }
  return null;
}
