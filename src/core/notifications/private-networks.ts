/** Whether a webhook target lies in a loopback, private or link-local network. */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const PRIVATE_NETWORKS = (() => {
  const list = new BlockList();
  for (const [net, prefix] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.168.0.0', 16],
  ] as const) {
    list.addSubnet(net, prefix, 'ipv4');
  }
  for (const [net, prefix] of [
    ['::', 128],
    ['::1', 128],
    ['fc00::', 7],
    ['fe80::', 10],
  ] as const) {
    list.addSubnet(net, prefix, 'ipv6');
  }
  return list;
})();

/** Whether a webhook URL's host resolves to a loopback, private or link-local address. */
export async function isPrivateTarget(url: string): Promise<boolean> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookup(host, { all: true });
  return addresses.some(({ address, family }) => {
    const mapped = family === 6 && address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : null;
    return mapped && isIP(mapped) === 4
      ? PRIVATE_NETWORKS.check(mapped, 'ipv4')
      : PRIVATE_NETWORKS.check(address, family === 6 ? 'ipv6' : 'ipv4');
  });
}
