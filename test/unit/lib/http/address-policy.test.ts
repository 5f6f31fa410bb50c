import { describe, expect, it } from 'vitest';
import {
  NO_PRIVATE_HOSTS,
  addressPermitted,
  parsePrivateHostAllowList,
  urlHostPermitted,
} from '../../../../lib/http/address-policy.ts';

describe('internal addresses, with nothing allowed', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '[::1]',
    '::',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    'fd00::1',
    'fd00:ec2::254',
    'fe80::1',
  ])('%s is refused', (ip) => expect(addressPermitted(ip, 443, NO_PRIVATE_HOSTS)).toBe(false));
  it.each(['8.8.8.8', '172.32.0.1', '2001:db8::1', '::ffff:8.8.8.8'])('%s is public', (ip) =>
    expect(addressPermitted(ip, 443, NO_PRIVATE_HOSTS)).toBe(true),
  );
  it('refuses what is not an address', () =>
    expect(addressPermitted('example.com', 443, NO_PRIVATE_HOSTS)).toBe(false));
});

describe('parsePrivateHostAllowList and addressPermitted', () => {
  const allow = parsePrivateHostAllowList(' 127.0.0.1:8080, 10.0.0.0/8,[::1]:9000 , 192.168.1.5');

  it.each([
    ['127.0.0.1', 8080, true],
    ['127.0.0.1', 9000, false],
    ['::ffff:127.0.0.1', 8080, true],
    ['10.200.0.1', 1, true],
    ['::1', 9000, true],
    ['::1', 8080, false],
    ['192.168.1.5', 443, true],
    ['192.168.1.6', 443, false],
    ['169.254.169.254', 80, false],
    ['8.8.8.8', 443, true],
  ] as const)('%s port %i: %s', (ip, port, permitted) => expect(addressPermitted(ip, port, allow)).toBe(permitted));

  it('allows only public addresses by default, and never something that is not an address', () => {
    expect(addressPermitted('127.0.0.1', 80, NO_PRIVATE_HOSTS)).toBe(false);
    expect(addressPermitted('93.184.216.34', 80, NO_PRIVATE_HOSTS)).toBe(true);
    expect(addressPermitted('example.com', 80, NO_PRIVATE_HOSTS)).toBe(false);
    expect(parsePrivateHostAllowList('').text).toBe('');
  });

  it.each([
    'true',
    'localhost',
    'files.example:80',
    '10.0.0.0/33',
    '127.0.0.1:0',
    '127.0.0.1:70000',
    '1.2.3.4/8/1',
    '::1:80x',
  ])('refuses the entry %s', (entry) => {
    expect(() => parsePrivateHostAllowList(entry)).toThrow(entry);
  });
});

describe('urlHostPermitted', () => {
  const allow = parsePrivateHostAllowList('127.0.0.1:8080');
  it.each([
    ['http://127.0.0.1:8080/x', true],
    ['http://127.0.0.1:8081/x', false],
    ['http://localhost:8080/x', true],
    ['http://localhost/x', false],
    ['http://[::1]:8080/x', false],
    ['http://169.254.169.254/latest/meta-data', false],
    ['https://files.example/x', true],
    ['https://8.8.8.8/x', true],
  ])('%s: %s', (url, permitted) => expect(urlHostPermitted(new URL(url), allow)).toBe(permitted));
});
