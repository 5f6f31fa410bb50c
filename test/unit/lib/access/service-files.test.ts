import { toUtf8Bytes } from 'ethers';
import { describe, expect, it } from 'vitest';
import { eciesEncrypt } from '../../../../lib/access/ecies.ts';
import { AccessDenied } from '../../../../lib/access/errors.ts';
import { decryptServiceFiles } from '../../../../lib/access/service-files.ts';
import { parsePrivateHostAllowList } from '../../../../lib/http/address-policy.ts';
import { DATASET_DT, DATASET_NFT, datasetDdo, otherKey, providerKey } from './fixtures.ts';

const ddo = datasetDdo();
const service = ddo.services[1]!;

function withFiles(files: unknown, key = providerKey.signingKey.publicKey) {
  return {
    ...service,
    files: eciesEncrypt(key, toUtf8Bytes(typeof files === 'string' ? files : JSON.stringify(files))),
  };
}

function denial(fn: () => unknown): AccessDenied {
  try {
    fn();
  } catch (err) {
    if (err instanceof AccessDenied) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

const url = (u: string, extra: Record<string, unknown> = {}) => ({
  nftAddress: DATASET_NFT,
  datatokenAddress: DATASET_DT,
  files: [{ type: 'url', url: u, method: 'get', ...extra }],
});

describe('decryptServiceFiles', () => {
  it('decrypts the files object into file locations', () => {
    expect(decryptServiceFiles(providerKey.privateKey, ddo, service)).toEqual([
      { url: 'https://data.example/file.csv', method: 'GET', headers: { Authorization: 'Bearer s3cr3t' } },
    ]);
  });

  it('refuses files in the clear, or encrypted to another provider', () => {
    expect(
      denial(() => decryptServiceFiles(providerKey.privateKey, ddo, { ...service, files: url('https://a.example/') }))
        .code,
    ).toBe('FILES_NOT_ENCRYPTED');
    expect(
      denial(() =>
        decryptServiceFiles(
          providerKey.privateKey,
          ddo,
          withFiles(url('https://a.example/'), otherKey.signingKey.publicKey),
        ),
      ).code,
    ).toBe('FILES_NOT_DECRYPTABLE');
  });

  it('refuses files bound to another NFT or datatoken', () => {
    const other = '0x9000000000000000000000000000000000000009';
    expect(
      denial(() =>
        decryptServiceFiles(
          providerKey.privateKey,
          ddo,
          withFiles({ ...url('https://a.example/'), nftAddress: other }),
        ),
      ).code,
    ).toBe('FILES_WRONG_ASSET');
    expect(
      denial(() =>
        decryptServiceFiles(
          providerKey.privateKey,
          ddo,
          withFiles({ ...url('https://a.example/'), datatokenAddress: other }),
        ),
      ).code,
    ).toBe('FILES_WRONG_ASSET');
  });

  it.each([
    ['not JSON', 'nope', 'FILES_INVALID'],
    ['a bare list (pre-4.1 layout)', [{ type: 'url', url: 'https://a.example/' }], 'FILES_INVALID'],
    ['no files', { nftAddress: DATASET_NFT, datatokenAddress: DATASET_DT, files: [] }, 'FILES_INVALID'],
    ['ipfs files', { ...url('x'), files: [{ type: 'ipfs', hash: 'Qm' }] }, 'FILES_UNSUPPORTED'],
    ['file: URLs', url('file:///etc/passwd'), 'FILES_UNSUPPORTED'],
    ['ftp URLs', url('ftp://a.example/x'), 'FILES_UNSUPPORTED'],
    ['loopback hosts', url('http://127.0.0.1:8080/x'), 'FILES_UNSUPPORTED'],
    ['cluster-private hosts', url('http://10.0.0.7/x'), 'FILES_UNSUPPORTED'],
    ['PUT', url('https://a.example/x', { method: 'PUT' }), 'FILES_UNSUPPORTED'],
    ['header injection', url('https://a.example/x', { headers: { 'X-A': 'v\r\nHost: evil' } }), 'FILES_INVALID'],
    ['bad header names', url('https://a.example/x', { headers: { 'X A': 'v' } }), 'FILES_INVALID'],
    ['no URL', { ...url('x'), files: [{ type: 'url' }] }, 'FILES_INVALID'],
  ])('refuses %s', (_, files, code) => {
    const err = denial(() => decryptServiceFiles(providerKey.privateKey, ddo, withFiles(files)));
    expect(err.code).toBe(code);
  });

  it('never puts a URL or header into a refusal', () => {
    const secret = 'https://secret-host.example/token=abc';
    const err = denial(() =>
      decryptServiceFiles(
        providerKey.privateKey,
        ddo,
        withFiles(url(secret, { method: 'PUT', headers: { A: 'hunter2' } })),
      ),
    );
    expect(err.message).not.toContain('secret-host');
    expect(err.message).not.toContain('hunter2');
  });

  it('allows the internal hosts it is told to (development clusters), and no other', () => {
    const privateHosts = parsePrivateHostAllowList('127.0.0.1:9000');
    const files = decryptServiceFiles(providerKey.privateKey, ddo, withFiles(url('http://127.0.0.1:9000/x')), {
      privateHosts,
    });
    expect(files[0]?.url).toBe('http://127.0.0.1:9000/x');
    for (const other of ['http://127.0.0.1:9001/x', 'http://localhost:9001/x', 'http://10.0.0.7:9000/x']) {
      expect(
        denial(() => decryptServiceFiles(providerKey.privateKey, ddo, withFiles(url(other)), { privateHosts })).code,
      ).toBe('FILES_UNSUPPORTED');
    }
  });
});
