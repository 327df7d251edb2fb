/**
 * Webhook SSRF checks: every textual form of a private address is refused, every resolved address
 * is checked, and the connection goes to the address that was checked (a second DNS answer cannot
 * switch it). Traffic goes only to 127.0.0.1 and ::1; names are resolved by injected lookups or
 * are under `.invalid` (answered without a query).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BlockedTargetError,
  blockedAddressReason,
  dnsLookup,
  type HostLookup,
  isPrivateTarget,
  postWebhook,
  type ResolvedAddress,
  resolveTarget,
} from '../../../src/core/notifications/notifications.js';

const PUBLIC_V4 = '93.184.216.34';

/** A lookup that gives each call the next answer of `answers` (the last one again when out). */
function sequenceLookup(answers: ResolvedAddress[][]): HostLookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (hostname: string) => {
    calls.push(hostname);
    return answers[Math.min(calls.length - 1, answers.length - 1)] ?? [];
  };
  return Object.assign(lookup, { calls });
}

describe('blocked address forms', () => {
  const blocked: [string, RegExp][] = [
    ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/],
    ['10.1.2.3', /private/],
    ['172.16.0.1', /private/],
    ['192.168.1.1', /private/],
    ['100.64.0.1', /shared/],
    ['169.254.169.254', /link-local/],
    ['0.0.0.0', /this network/],
    ['224.0.0.1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['240.0.0.1', /reserved/],
    ['192.0.2.10', /documentation/],
    ['198.51.100.10', /documentation/],
    ['203.0.113.10', /documentation/],
    ['198.18.0.1', /benchmarking/],
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['0:0:0:0:0:0:0:1', /loopback/],
    ['::ffff:127.0.0.1', /IPv4-mapped loopback/],
    ['::ffff:7f00:1', /IPv4-mapped loopback/],
    ['::ffff:10.0.0.1', /IPv4-mapped private/],
    ['::ffff:0:127.0.0.1', /IPv4-translated loopback/],
    ['::127.0.0.1', /IPv4-compatible loopback/],
    ['::7f00:1', /IPv4-compatible loopback/],
    ['::a00:1', /IPv4-compatible private/],
    ['::8.8.8.8', /IPv4-compatible/],
    ['64:ff9b::7f00:1', /NAT64 loopback/],
    ['64:ff9b::127.0.0.1', /NAT64 loopback/],
    ['64:ff9b::a9fe:a9fe', /NAT64 link-local/],
    ['64:ff9b:1::1', /local-use NAT64/],
    ['2002:7f00:1::', /6to4 loopback/],
    ['2002:c0a8:101::1', /6to4 private/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['fc00::1', /unique-local/],
    ['fd12:3456::1', /unique-local/],
    ['fec0::1', /site-local/],
    ['ff02::1', /multicast/],
    ['2001:db8::1', /documentation/],
    ['3fff::1', /documentation/],
    ['100::1', /discard-only/],
    ['2001::1', /IETF protocol/],
    ['not-an-address', /not an IP address/],
  ];
  for (const [address, reason] of blocked) {
    it(`refuses ${address}`, () => {
      expect(blockedAddressReason(address)).toMatch(reason);
    });
  }

  it('lets public addresses through, in every form that carries a public IPv4 address', () => {
    for (const address of [
      PUBLIC_V4,
      '8.8.8.8',
      '2606:4700::1111',
      '2a00:1450:4001:80b::200e',
      '::ffff:93.184.216.34',
      '64:ff9b::5db8:d822',
      '2002:5db8:d822::1',
    ]) {
      expect(blockedAddressReason(address), address).toBeNull();
    }
  });

  it('refuses the bracketed URL forms of the issue without a lookup', async () => {
    const lookup = sequenceLookup([]);
    for (const url of [
      'http://[::127.0.0.1]/x',
      'http://[64:ff9b::7f00:1]/x',
      'http://[::ffff:127.0.0.1]/x',
      'http://[2002:7f00:1::]/x',
      'http://[::1]:8080/x',
      'http://127.1/x',
      'http://2130706433/x',
      'http://0x7f.0.0.1/x',
    ]) {
      expect(await isPrivateTarget(url, { lookup }), url).toBe(true);
    }
    // The URL parser turns 127.1, 2130706433 and 0x7f.0.0.1 into 127.0.0.1: never a name to look up.
    expect(lookup.calls).toEqual([]);
  });
});

describe('resolving a webhook host', () => {
  it('checks every address a name resolves to: one private answer among public ones refuses it', async () => {
    const lookup = sequenceLookup([
      [
        { address: PUBLIC_V4, family: 4 },
        { address: '::ffff:169.254.169.254', family: 6 },
      ],
    ]);
    await expect(resolveTarget('mixed.example', { lookup })).rejects.toThrow(BlockedTargetError);
    await expect(resolveTarget('mixed.example', { lookup })).rejects.toThrow(
      /169\.254\.169\.254.*link-local/,
    );
  });

  it('rebinding: public on the first answer and 127.0.0.1 on the second, the checked first one is used', async () => {
    const lookup = sequenceLookup([
      [{ address: PUBLIC_V4, family: 4 }],
      [{ address: '127.0.0.1', family: 4 }],
    ]);
    const pinned = await resolveTarget('rebind.example', { lookup });
    expect(pinned).toEqual({ address: PUBLIC_V4, family: 4 });
    // One lookup per attempt: the connection is made to `pinned`, never by asking DNS again.
    expect(lookup.calls).toEqual(['rebind.example']);
    // The next attempt resolves afresh and is checked afresh.
    await expect(resolveTarget('rebind.example', { lookup })).rejects.toThrow(/127\.0\.0\.1 \(loopback\)/);
  });

  it('bounds a lookup that never answers, and aborts it', async () => {
    let aborted = false;
    const hanging: HostLookup = (_hostname, signal) =>
      new Promise((_, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(signal.reason);
        });
      });
    await expect(resolveTarget('hang.example', { lookup: hanging, lookupTimeoutMs: 50 })).rejects.toThrow(
      /looking up hang\.example timed out after 50 ms/,
    );
    expect(aborted).toBe(true);
  });

  it('answers .invalid names and localhost without asking DNS', async () => {
    const signal = new AbortController().signal;
    await expect(dnsLookup('webhook.invalid', signal)).rejects.toThrow(/ENOTFOUND webhook\.invalid/);
    expect(await dnsLookup('localhost', signal)).toEqual([
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ]);
    await expect(resolveTarget('localhost')).rejects.toThrow(/loopback/);
  });
});

interface Seen {
  headers: IncomingHttpHeaders;
}

async function listen(host: string, port = 0): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    seen.push({ headers: request.headers });
    request.resume();
    request.on('end', () => response.end('ok'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port, seen };
}

describe('the connection goes to the checked address', () => {
  let first: Awaited<ReturnType<typeof listen>>;
  let second: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    first = await listen('127.0.0.1');
    // The same port on ::1: a connection that asked DNS again would land here.
    second = await listen('::1', first.port);
  });
  afterAll(() => {
    first.server.close();
    second.server.close();
  });

  it('a second DNS answer does not switch the connection; Host keeps the name', async () => {
    const lookup = sequenceLookup([[{ address: '127.0.0.1', family: 4 }], [{ address: '::1', family: 6 }]]);
    const status = await postWebhook({
      url: `http://rebind.example:${first.port}/hook`,
      headers: { 'content-type': 'application/json' },
      body: '{}',
      timeoutMs: 5000,
      lookup,
      allowPrivate: true,
    });
    expect(status).toBe(200);
    expect(first.seen).toHaveLength(1);
    expect(first.seen[0]?.headers.host).toBe(`rebind.example:${first.port}`);
    expect(second.seen).toHaveLength(0);
    expect(lookup.calls).toEqual(['rebind.example']);
  });

  it('without allowPrivate a loopback answer never connects', async () => {
    const seenBefore = first.seen.length + second.seen.length;
    const lookup = sequenceLookup([[{ address: '127.0.0.1', family: 4 }]]);
    await expect(
      postWebhook({
        url: `http://sneaky.example:${first.port}/hook`,
        headers: {},
        body: '{}',
        timeoutMs: 5000,
        lookup,
      }),
    ).rejects.toThrow(BlockedTargetError);
    await expect(
      postWebhook({ url: `http://[::127.0.0.1]:${first.port}/x`, headers: {}, body: '{}', timeoutMs: 5000 }),
    ).rejects.toThrow(/IPv4-compatible loopback/);
    await expect(
      postWebhook({
        url: `http://[64:ff9b::7f00:1]:${first.port}/x`,
        headers: {},
        body: '{}',
        timeoutMs: 5000,
      }),
    ).rejects.toThrow(/NAT64 loopback/);
    expect(first.seen.length + second.seen.length).toBe(seenBefore);
  });
});

/** A self-signed certificate for pinned.example (P-256, valid for a century): a test fixture only. */
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkxCWMFysVG6gYo5r
smabxjMXiFdB0Fl1YcJ22wOKph6hRANCAATY30bvdsiSw6jNXUtlxHifAoR0bMGM
JUMiPe/727sYvMoL4dkCdhf64D7qyCEEjYY1lUQA+KFsohKMId0ilefH
-----END PRIVATE KEY-----`;
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBpDCCAUqgAwIBAgIUQbocdtGDJ3OwHW/Ks8HU8IHYbNwwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOcGlubmVkLmV4YW1wbGUwIBcNMjYxMjAyMDgwNDE5WhgPMjEy
NjExMDgwODA0MTlaMBkxFzAVBgNVBAMMDnBpbm5lZC5leGFtcGxlMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE2N9G73bIksOozV1LZcR4nwKEdGzBjCVDIj3v+9u7
GLzKC+HZAnYX+uA+6sghBI2GNZVEAPihbKISjCHdIpXnx6NuMGwwHQYDVR0OBBYE
FG4qgtJPEgWKu2ZHxLafwnpt049SMB8GA1UdIwQYMBaAFG4qgtJPEgWKu2ZHxLaf
wnpt049SMA8GA1UdEwEB/wQFMAMBAf8wGQYDVR0RBBIwEIIOcGlubmVkLmV4YW1w
bGUwCgYIKoZIzj0EAwIDSAAwRQIgIkBbqup+gUtj0j/fLzBinqz5bWOh1A8v938n
vJl9GHMCIQCIcixknGFyirsE++mSvF5M6EJ12LvmZXyI1wrS2NI74Q==
-----END CERTIFICATE-----`;

describe('https: the pinned connection keeps the name for SNI and the certificate check', () => {
  let server: Server;
  let port: number;
  const serverNames: string[] = [];
  const hosts: (string | undefined)[] = [];
  beforeAll(async () => {
    const context = tls.createSecureContext({ key: TLS_KEY, cert: TLS_CERT });
    server = createHttpsServer(
      {
        key: TLS_KEY,
        cert: TLS_CERT,
        SNICallback: (name, done) => {
          serverNames.push(name);
          done(null, context);
        },
      },
      (request, response) => {
        hosts.push(request.headers.host);
        request.resume();
        request.on('end', () => response.end('ok'));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.close();
  });

  const post = (host: string) =>
    postWebhook({
      url: `https://${host}:${port}/hook`,
      headers: {},
      body: '{}',
      timeoutMs: 5000,
      lookup: sequenceLookup([[{ address: '127.0.0.1', family: 4 }]]),
      allowPrivate: true,
    });

  it('sends the name as SNI, and an untrusted certificate fails the check', async () => {
    await expect(post('pinned.example')).rejects.toThrow(/self-signed certificate/);
    expect(serverNames).toEqual(['pinned.example']);
    expect(hosts).toEqual([]);
  });

  // Trusting a certificate for one process needs tls.setDefaultCACertificates (Node 22.19, 24.5).
  it.skipIf(typeof tls.setDefaultCACertificates !== 'function')(
    'checks the certificate against the name, not the address connected to',
    async () => {
      const defaults = tls.getCACertificates('default');
      tls.setDefaultCACertificates([...defaults, TLS_CERT]);
      try {
        expect(await post('pinned.example')).toBe(200);
        expect(hosts).toEqual([`pinned.example:${port}`]);
        await expect(post('other.example')).rejects.toThrow(/altnames/);
        expect(hosts).toHaveLength(1);
      } finally {
        tls.setDefaultCACertificates(defaults);
      }
    },
  );
});
