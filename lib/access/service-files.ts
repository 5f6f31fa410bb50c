import { getAddress, isAddress } from 'ethers';
import { z } from 'zod';
import type { Ddo, DdoService } from './ddo.ts';
import { NO_PRIVATE_HOSTS, urlHostPermitted, type PrivateHostAllowList } from '../http/address-policy.ts';
import { eciesDecrypt } from './ecies.ts';
import { deny } from './errors.ts';

/**
 * `services[].files` decrypted into where the files are. The result is secret: it goes into the job's Secret only.
 * No error raised here quotes a URL or a header.
 */

export interface FileAccess {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// A header value may not smuggle a second header or request line.
const HEADER_VALUE = /^[^\r\n\0]*$/;

const fileSchema = z.looseObject({
  type: z.string(),
  url: z.string().optional(),
  method: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

const filesObjectSchema = z.looseObject({
  nftAddress: z.string().refine((v) => isAddress(v)),
  datatokenAddress: z.string().refine((v) => isAddress(v)),
  files: z.array(fileSchema).min(1).max(100),
});

export interface FileRules {
  /** Loopback, private and link-local addresses file URLs may point at (a development cluster's). Default none. */
  privateHosts?: PrivateHostAllowList;
}

/** Checks one decrypted file entry; `where` names it in reasons (e.g. `files[0]`), never its content. */
export function toFileAccess(entry: z.infer<typeof fileSchema>, where: string, rules: FileRules = {}): FileAccess {
  if (entry.type !== 'url')
    throw deny('FILES_UNSUPPORTED', `${where} is of type ${entry.type}; only url files are supported`);
  let url: URL;
  try {
    url = new URL(entry.url ?? '');
  } catch {
    throw deny('FILES_INVALID', `${where} has no valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw deny('FILES_UNSUPPORTED', `${where} is not an http or https URL`);
  }
  if (!urlHostPermitted(url, rules.privateHosts ?? NO_PRIVATE_HOSTS)) {
    throw deny('FILES_UNSUPPORTED', `${where} points at a loopback or private address`);
  }
  const method = (entry.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'POST') throw deny('FILES_UNSUPPORTED', `${where} uses method ${method}`);
  const headers = entry.headers ?? {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value) || value.length > 8192) {
      throw deny('FILES_INVALID', `${where} has a malformed header`);
    }
  }
  return { url: url.href, method, headers };
}

/**
 * Decrypts a service's files with the provider key and checks them the way Ocean's provider does: the files object
 * must name this asset's NFT and this service's datatoken (so that files cannot be copied into another asset), and
 * every file must be a fetchable http(s) URL.
 */
export function decryptServiceFiles(
  privateKey: string,
  ddo: Pick<Ddo, 'nftAddress'>,
  service: Pick<DdoService, 'id' | 'files' | 'datatokenAddress'>,
  rules: FileRules = {},
): FileAccess[] {
  if (typeof service.files !== 'string') {
    throw deny(
      'FILES_NOT_ENCRYPTED',
      `service ${service.id} publishes its files in the clear; they must be encrypted to this provider`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(eciesDecrypt(privateKey, service.files));
  } catch {
    throw deny('FILES_NOT_DECRYPTABLE', `the files of service ${service.id} are not encrypted to this provider`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw deny('FILES_INVALID', `the files of service ${service.id} are not JSON`);
  }
  const parsed = filesObjectSchema.safeParse(json);
  if (!parsed.success) {
    throw deny('FILES_INVALID', `the files of service ${service.id} are not an Ocean files object`);
  }
  const files = parsed.data;
  if (getAddress(files.nftAddress) !== getAddress(ddo.nftAddress)) {
    throw deny('FILES_WRONG_ASSET', `the files of service ${service.id} belong to another NFT`);
  }
  if (getAddress(files.datatokenAddress) !== getAddress(service.datatokenAddress)) {
    throw deny('FILES_WRONG_ASSET', `the files of service ${service.id} belong to another datatoken`);
  }
  return files.files.map((f, i) => toFileAccess(f, `service ${service.id} files[${i}]`, rules));
}
