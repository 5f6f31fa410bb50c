import { describe, expect, it } from 'vitest';
import { NO_PRIVATE_HOSTS, parsePrivateHostAllowList } from '../../../../lib/http/address-policy.ts';
import {
  describeTarget,
  objectKeyFor,
  outputCiphertext,
  OutputTargetError,
  parseOutputRequest,
  urlFor,
} from '../../../../lib/job/output-target.ts';

const S3 = {
  type: 's3',
  s3Access: {
    endpoint: 's3.eu-central-1.amazonaws.com',
    region: 'eu-central-1',
    bucket: 'consumer-results',
    objectKey: 'jobs/',
    accessKeyId: 'AKIAEXAMPLE',
    secretAccessKey: 'secret-example',
  },
};
const LOOPBACK = parsePrivateHostAllowList('127.0.0.0/8');

function refusal(decrypted: unknown, allow = NO_PRIVATE_HOSTS): string {
  try {
    parseOutputRequest(decrypted, allow);
  } catch (err) {
    expect(err).toBeInstanceOf(OutputTargetError);
    return (err as Error).message;
  }
  throw new Error('not refused');
}

describe('parseOutputRequest', () => {
  it('reads an S3 target as ocean.js 8 sends it, defaulting https, the region and virtual-host addressing', () => {
    const { target, aesKey } = parseOutputRequest(
      { remoteStorage: { ...S3, s3Access: { ...S3.s3Access, region: undefined } } },
      NO_PRIVATE_HOSTS,
    );
    expect(aesKey).toBeUndefined();
    expect(target).toMatchObject({
      kind: 's3',
      region: 'us-east-1',
      bucket: 'consumer-results',
      objectKey: 'jobs/',
      forcePathStyle: false,
    });
    expect(target.kind === 's3' && target.endpoint.href).toBe('https://s3.eu-central-1.amazonaws.com/');
    expect(describeTarget(target)).toBe('an S3 bucket');
  });

  it('reads a URL target with its headers, and an AES key cut to 32 bytes', () => {
    const key = 'ab'.repeat(40);
    const { target, aesKey } = parseOutputRequest(
      {
        remoteStorage: {
          type: 'url',
          url: 'https://put.example/up/',
          method: 'get',
          headers: { 'x-amz-acl': 'private' },
        },
        encryption: { encryptMethod: 'AES', key: `0x${key}` },
      },
      NO_PRIVATE_HOSTS,
    );
    expect(target).toMatchObject({ kind: 'url', headers: { 'x-amz-acl': 'private' } });
    expect(aesKey).toEqual(Buffer.from('ab'.repeat(32), 'hex'));
    expect(describeTarget(target)).not.toContain('put.example');
  });

  it('takes plain http only to an internal address the operator allows', () => {
    const local = { ...S3, s3Access: { ...S3.s3Access, endpoint: 'http://127.0.0.1:9000', forcePathStyle: true } };
    expect(parseOutputRequest({ remoteStorage: local }, LOOPBACK).target).toMatchObject({ forcePathStyle: true });
    expect(refusal({ remoteStorage: local })).toMatch(/endpoint is an address not allowed/);
    const publicHttp = { ...S3, s3Access: { ...S3.s3Access, endpoint: 'http://s3.example.com' } };
    expect(refusal({ remoteStorage: publicHttp }, LOOPBACK)).toMatch(/must be https/);
  });

  it.each([
    ['ftp', { type: 'ftp', url: 'ftp://u:p@ftp.example/out/' }, /"ftp" cannot receive uploads here/],
    ['ipfs', { type: 'ipfs', hash: 'Qm' }, /"ipfs" cannot receive uploads/],
    ['an unnamed type', { url: 'https://x.example' }, /remoteStorage.type must name the storage type/],
    ['no bucket', { ...S3, s3Access: { ...S3.s3Access, bucket: ' ' } }, /s3Access.bucket is missing/],
    ['a bad bucket', { ...S3, s3Access: { ...S3.s3Access, bucket: 'Has_Caps' } }, /must be an S3 bucket name/],
    [
      'no secret',
      { ...S3, s3Access: { ...S3.s3Access, secretAccessKey: undefined } },
      /secretAccessKey must be a string/,
    ],
    [
      'a metadata address',
      { ...S3, s3Access: { ...S3.s3Access, endpoint: 'http://169.254.169.254' } },
      /address not allowed/,
    ],
    ['a private IPv6', { type: 'url', url: 'https://[fd00::1]/x' }, /url is an address not allowed/],
    ['credentials in the URL', { type: 'url', url: 'https://u:p@put.example/x' }, /must not carry credentials/],
    ['a file URL', { type: 'url', url: 'file:///etc/passwd' }, /must be an http\(s\) URL/],
    [
      'too many headers',
      {
        type: 'url',
        url: 'https://p.example/',
        headers: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`h${i}`, 'v'])),
      },
      /at most 32 entries/,
    ],
    [
      'a header with a newline',
      { type: 'url', url: 'https://p.example/', headers: { a: 'x\r\ny: z' } },
      /printable ASCII/,
    ],
  ])('refuses %s, naming the field and never a value', (_what, remoteStorage, reason) => {
    const message = refusal({ remoteStorage });
    expect(message).toMatch(reason);
    expect(message).not.toContain('secret-example');
  });

  it.each([
    [{ encryptMethod: 'ECIES', key: 'ab'.repeat(32) }, /encryption.encryptMethod must be AES/],
    [{ encryptMethod: 'AES', key: 'ab'.repeat(31) }, /at least 32 bytes/],
    [{ encryptMethod: 'AES' }, /encryption.key must be hex/],
  ])('refuses encryption %j', (encryption, reason) => {
    expect(refusal({ remoteStorage: S3, encryption })).toMatch(reason);
  });

  it('refuses what is not an output document', () => {
    expect(refusal('a string')).toMatch(/output must be an object/);
    expect(refusal({})).toMatch(/remoteStorage must be an object/);
  });
});

describe('where the archive goes', () => {
  it("appends the archive's name to a key or URL ending in /, as ocean-node does", () => {
    expect(objectKeyFor('jobs/', 'outputs-e-1.tar')).toBe('jobs/outputs-e-1.tar');
    expect(objectKeyFor('jobs//', 'a.tar')).toBe('jobs/a.tar');
    expect(objectKeyFor('exact.tar', 'a.tar')).toBe('exact.tar');
    expect(urlFor(new URL('https://p.example/up/'), 'a b.tar').href).toBe('https://p.example/up/a%20b.tar');
    expect(urlFor(new URL('https://p.example/up/x?sig=1'), 'a.tar').href).toBe('https://p.example/up/x?sig=1');
  });
});

describe('outputCiphertext', () => {
  const valid = '04' + 'ab'.repeat(64) + '11'.repeat(40);
  it('normalizes the hex ocean.js 8 sends', () => {
    expect(outputCiphertext.parse('0x' + valid.toUpperCase())).toBe(valid);
  });
  it.each([
    ['', /hex/],
    ['0x', /hex/],
    ['04ab', /too short/],
    ['03' + valid.slice(2), /uncompressed/],
    ['04' + 'ab'.repeat(8192), /at most 8192 bytes/],
  ])('refuses %s', (text, reason) => {
    const r = outputCiphertext.safeParse(text);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.message).toMatch(reason);
  });
});
