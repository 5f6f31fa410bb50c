import { isAddress } from 'ethers/address';
import { z } from 'zod';
import { NONCE_DIGITS, NONCE_PATTERN } from '../auth/nonce-policy.ts';
import { ENVIRONMENT_ID_PATTERN, JOB_ID_PATTERN, STAGES } from '../job/names.ts';

/**
 * Field schemas shared by the request schemas. Each refuses with a reason a caller can act on; everything that may
 * later reach a Kubernetes name or label (job ids, environments, owners) is held to the job naming patterns.
 */

export const address = z
  .string({ error: 'must be a string' })
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
  .refine((v) => isAddress(v), 'has a wrong EIP-55 checksum');

export const did = z
  .string({ error: 'must be a string' })
  .regex(/^did:op:[0-9a-f]{64}$/, 'must be did:op: followed by 64 lower-case hex digits');

/** A transaction hash as agreement ids are compared: without 0x, lower-case. */
export function bareTxHash(hash: string): string {
  return hash.replace(/^0x/i, '').toLowerCase();
}

export const txHash = z
  .string({ error: 'must be a string' })
  .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte transaction hash')
  .transform((v) => v.toLowerCase());

export const serviceId = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1-128 characters of letters, digits, . _ : -');

export const jobId = z.string({ error: 'must be a string' }).regex(JOB_ID_PATTERN, 'must be 32 lower-case hex digits');

export const environmentId = z
  .string({ error: 'must be a string' })
  .regex(ENVIRONMENT_ID_PATTERN, 'must be a DNS label (lower-case letters, digits, -; at most 63)');

/**
 * Exactly 14 decimal digits, the first not 0: the fixed width keeps every signed text to one reading
 * (lib/auth/nonce-policy.ts, lib/auth/signed-texts.ts). GET /api/services/nonce reports such a nonce; ocean.js signs it + 1.
 */
export const nonce = z
  .union([z.string(), z.number()], { error: 'must be a decimal integer' })
  .transform((v) => (typeof v === 'number' ? (Number.isSafeInteger(v) ? String(v) : 'x') : v))
  .pipe(z.string().regex(NONCE_PATTERN, `must be a decimal integer of exactly ${NONCE_DIGITS} digits, the first not 0`))
  .transform((v) => BigInt(v));

export const signature = z
  .string({ error: 'must be a string' })
  .regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 0x-prefixed 65-byte hex signature');

export const resultIndex = z
  .string({ error: 'must be a string' })
  .regex(/^(0|[1-9][0-9]{0,5})$/, 'must be a non-negative integer of at most 6 digits, without leading zeros')
  .transform(Number);

export const stage = z.enum(STAGES, { error: `must be one of ${STAGES.join(', ')}` });

export const booleanFlag = z
  .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1');

export const chainId = z
  .string({ error: 'must be a string' })
  .regex(/^\d{1,12}$/, 'must be a decimal chain id')
  .transform(Number);

/** Free-form JSON a consumer hands to the algorithm (userdata, algocustomdata); bounded by the body cap. */
export const jsonObject = z.record(z.string(), z.unknown(), { error: 'must be a JSON object' });
