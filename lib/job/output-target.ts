import { z } from 'zod';
import {
  addressPermitted,
  NO_PRIVATE_HOSTS,
  urlHostPermitted,
  urlPort,
  type PrivateHostAllowList,
} from '../http/address-policy.ts';

/**
 * A v2 job's own storage target for its outputs (ocean-node's `output`, src/@types/C2D/C2D.ts `ComputeOutput`):
 * ocean.js 8.x ECIES-encrypts `{ remoteStorage, encryption? }` to the `nodePublicKey` of `GET /v2` and sends the hex.
 * Start checks only the ciphertext's shape (it cannot decrypt it); the publish pod decrypts it with the output key
 * (lib/job/output-key.ts) and reads it here. Like ocean-node's docker engine, the outputs then go to the target as
 * one tar archive instead of to the provider's store, AES-encrypted first when `encryption` asks for it.
 *
 * Targets: `s3` (ocean-node's S3Storage.upload: one object; a key ending in `/` gets the archive's name appended) and
 * `url` (UrlStorage.upload: an HTTP PUT with the object's headers; a URL ending in `/` gets the name appended).
 * ocean-node can also upload over FTP; that, and the types it cannot upload to (ipfs, arweave), are refused by name.
 */

/** The ciphertext's bounds in bytes: eciesjs' 65-byte ephemeral key, 16-byte nonce and 16-byte tag, then at least `{}`. */
export const OUTPUT_CIPHERTEXT_MIN_BYTES = 65 + 16 + 16 + 2;
export const OUTPUT_CIPHERTEXT_MAX_BYTES = 8192;

/**
 * The `output` field of a v2 start: hex (0x optional) of an eciesjs ciphertext, whose first byte is the uncompressed
 * ephemeral key's 0x04. Normalized to lower-case hex without 0x.
 */
export const outputCiphertext = z
  .string({ error: 'must be the hex of an ECIES ciphertext' })
  .max(2 + 2 * OUTPUT_CIPHERTEXT_MAX_BYTES, `must be at most ${OUTPUT_CIPHERTEXT_MAX_BYTES} bytes`)
  .regex(/^(0x)?([0-9a-fA-F]{2})+$/, 'must be the hex of an ECIES ciphertext')
  .transform((v) => v.replace(/^0x/, '').toLowerCase())
  .refine((v) => v.length <= 2 * OUTPUT_CIPHERTEXT_MAX_BYTES, `must be at most ${OUTPUT_CIPHERTEXT_MAX_BYTES} bytes`)
  .refine((v) => v.length >= 2 * OUTPUT_CIPHERTEXT_MIN_BYTES, 'is too short to be an ECIES ciphertext')
  .refine((v) => v.startsWith('04'), 'is not an ECIES ciphertext (its ephemeral key must be uncompressed, 0x04…)');

/** Why a job's outputs cannot go to its target: safe to log and to show the consumer (never the target's values). */
export class OutputTargetError extends Error {
  override readonly name = 'OutputTargetError';
}

const text = (max: number) =>
  z.string({ error: 'must be a string' }).trim().min(1, 'is missing').max(max, `must be at most ${max} characters`);

const headers = z
  .record(
    z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, 'must be an HTTP header name'),
    z
      .string()
      .max(4096)
      .regex(/^[\t\x20-\x7e]*$/, 'must be printable ASCII'),
    { error: 'must be an object of header names and values' },
  )
  .refine((h) => Object.keys(h).length <= 32, 'must have at most 32 entries');

const s3Storage = z.object({
  type: z.literal('s3'),
  s3Access: z.object(
    {
      endpoint: text(2048),
      region: z
        .string()
        .max(64)
        .regex(/^[a-z0-9-]*$/, 'must be an S3 region name')
        .optional(),
      bucket: text(63).regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
      objectKey: text(1024),
      accessKeyId: text(256),
      secretAccessKey: text(256),
      forcePathStyle: z.boolean().optional(),
    },
    { error: 'must be an object' },
  ),
});

const urlStorage = z.object({
  type: z.literal('url'),
  url: text(2048),
  /** ocean-node uploads with PUT whatever method the object names (that one is for downloads). */
  method: z.string().max(16).optional(),
  headers: headers.optional(),
});

const UPLOADABLE = ['s3', 'url'] as const;

const remoteStorage = z
  .object({ type: z.string({ error: 'must name the storage type' }).max(64) }, { error: 'must be an object' })
  .passthrough()
  .superRefine((v, ctx) => {
    if (!(UPLOADABLE as readonly string[]).includes(v.type))
      ctx.addIssue({
        code: 'custom',
        path: ['type'],
        message: `${JSON.stringify(v.type)} cannot receive uploads here (supported: ${UPLOADABLE.join(', ')})`,
      });
  })
  .pipe(z.discriminatedUnion('type', [s3Storage, urlStorage]));

const computeOutput = z.object(
  {
    remoteStorage,
    /** ocean-node's ComputeOutputEncryption: AES-256-CBC with the first 32 bytes of `key`. */
    encryption: z
      .object(
        {
          encryptMethod: z.literal('AES', { error: 'must be AES' }),
          key: z
            .string({ error: 'must be hex' })
            .max(256)
            .regex(/^(0x)?[0-9a-fA-F]{64,}$/, 'must be hex of at least 32 bytes'),
        },
        { error: 'must be an object' },
      )
      .optional(),
  },
  { error: 'must be an object' },
);

export type OutputTarget =
  | {
      kind: 's3';
      endpoint: URL;
      region: string;
      bucket: string;
      objectKey: string;
      accessKeyId: string;
      secretAccessKey: string;
      forcePathStyle: boolean;
    }
  | { kind: 'url'; url: URL; headers: Record<string, string> };

export interface OutputRequest {
  target: OutputTarget;
  /** The AES-256 key the archive is encrypted with before it leaves, when the consumer asked for it. */
  aesKey?: Buffer;
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.length ? issue.path.join('.') : 'output';
  return `${path} ${issue.message}`;
}

/**
 * A target endpoint: http(s), no credentials in it, on a public address unless the operator allows the internal one
 * (PRIVATE_FILE_HOSTS_ALLOWED, as for downloads; names are checked again on every address they resolve to, when
 * connecting). Plain http only to an allowed internal address literal: elsewhere the consumer's archive and headers
 * would cross the Internet in the clear (and the publish pods' NetworkPolicy lets them reach public addresses on 443
 * only).
 */
function endpointUrl(raw: string, field: string, allow: PrivateHostAllowList): URL {
  let url: URL;
  try {
    url = new URL(/^https?:\/\//i.test(raw) ? raw : `https://${raw}`);
  } catch {
    throw new OutputTargetError(`${field} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OutputTargetError(`${field} is not http(s)`);
  if (url.username || url.password) throw new OutputTargetError(`${field} must not carry credentials`);
  if (!urlHostPermitted(url, allow)) throw new OutputTargetError(`${field} is an address not allowed`);
  if (url.protocol === 'http:') {
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const ip = host === 'localhost' ? '127.0.0.1' : host;
    const internal = !addressPermitted(ip, urlPort(url), NO_PRIVATE_HOSTS);
    if (!internal || !addressPermitted(ip, urlPort(url), allow))
      throw new OutputTargetError(`${field} must be https (plain http only to an allowed internal address)`);
  }
  return url;
}

/** Reads the decrypted `output` document; throws OutputTargetError naming the first field that is wrong. */
export function parseOutputRequest(decrypted: unknown, allow: PrivateHostAllowList): OutputRequest {
  const parsed = computeOutput.safeParse(decrypted);
  if (!parsed.success) throw new OutputTargetError(firstIssue(parsed.error));
  const { remoteStorage: storage, encryption } = parsed.data;
  const aesKey = encryption && Buffer.from(encryption.key.replace(/^0x/, ''), 'hex').subarray(0, 32);
  if (storage.type === 's3') {
    const a = storage.s3Access;
    return {
      target: {
        kind: 's3',
        endpoint: endpointUrl(a.endpoint, 'remoteStorage.s3Access.endpoint', allow),
        region: a.region || 'us-east-1',
        bucket: a.bucket,
        objectKey: a.objectKey,
        accessKeyId: a.accessKeyId,
        secretAccessKey: a.secretAccessKey,
        forcePathStyle: a.forcePathStyle ?? false,
      },
      ...(aesKey && { aesKey }),
    };
  }
  if (!/^https?:\/\//i.test(storage.url)) throw new OutputTargetError('remoteStorage.url must be an http(s) URL');
  return {
    target: { kind: 'url', url: endpointUrl(storage.url, 'remoteStorage.url', allow), headers: storage.headers ?? {} },
    ...(aesKey && { aesKey }),
  };
}

/** ocean-node's rule: a key or URL ending in `/` names a folder, and the archive's name is appended. */
export function objectKeyFor(objectKey: string, filename: string): string {
  return objectKey.endsWith('/') ? `${objectKey.replace(/\/+$/, '')}/${filename}` : objectKey;
}

export function urlFor(url: URL, filename: string): URL {
  if (!url.pathname.endsWith('/') || url.search) return url;
  const next = new URL(url);
  next.pathname = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(filename)}`;
  return next;
}

/** What may be said of a target in a log: its kind only (the consumer's host, bucket and key stay out of logs). */
export function describeTarget(target: OutputTarget): string {
  return target.kind === 's3' ? 'an S3 bucket' : 'a URL (HTTP PUT)';
}
