/**
 * Why an access check refused, one code per rejection. The HTTP status says who has to act: 400 the request itself
 * is malformed or names something that does not exist, 403 the request is well formed but access is not proven.
 */
const STATUS = {
  // identifiers and request shape
  DID_MALFORMED: 400,
  DID_MISMATCH: 403,
  ADDRESS_MALFORMED: 400,
  TX_ID_MALFORMED: 400,
  CHAIN_MISMATCH: 400,

  // the DDO and where it comes from
  DDO_NOT_FOUND: 403,
  NFT_NOT_FROM_FACTORY: 403,
  DDO_STATE_END_OF_LIFE: 403,
  DDO_STATE_DEPRECATED: 403,
  DDO_STATE_REVOKED: 403,
  DDO_STATE_ORDERING_DISABLED: 403,
  DDO_STATE_UNKNOWN: 403,
  DDO_FLAGS_UNKNOWN: 403,
  DDO_COMPRESSED_UNSUPPORTED: 403,
  DDO_NOT_DECOMPRESSABLE: 403,
  DDO_TOO_LARGE: 403,
  DDO_NOT_DECRYPTABLE: 403,
  DDO_HASH_MISMATCH: 403,
  DDO_CACHE_HASH_MISMATCH: 403,
  DDO_INVALID: 403,
  DDO_IDENTITY_MISMATCH: 403,

  // encrypted files
  FILES_NOT_ENCRYPTED: 403,
  FILES_NOT_DECRYPTABLE: 403,
  FILES_INVALID: 403,
  FILES_WRONG_ASSET: 403,
  FILES_UNSUPPORTED: 403,
  FILES_UNREACHABLE: 403,
  ENCRYPT_INPUT_INVALID: 400,

  // the compute service and the algorithm
  SERVICE_NOT_FOUND: 400,
  SERVICE_NOT_COMPUTE: 403,
  SERVICE_NOT_USABLE: 403,
  SERVICE_ENDPOINT_NOT_OURS: 403,
  CONSUMER_NOT_ALLOWED: 403,
  ALGORITHM_NOT_ALGORITHM: 400,
  ALGORITHM_SERVICE_NOT_FOUND: 400,
  ALGORITHM_SERVICE_NOT_USABLE: 403,
  ALGORITHM_CONTAINER_INVALID: 403,
  ALGORITHM_NOT_TRUSTED: 403,
  ALGORITHM_FILES_CHANGED: 403,
  ALGORITHM_CONTAINER_CHANGED: 403,
  RAW_ALGORITHM_NOT_ALLOWED: 403,
  RAW_ALGORITHM_INVALID: 400,

  // the order
  ORDER_TX_NOT_FOUND: 403,
  ORDER_TX_REVERTED: 403,
  ORDER_EVENT_MISSING: 403,
  ORDER_EVENT_MULTIPLE: 403,
  ORDER_WRONG_DATATOKEN: 403,
  ORDER_REUSE_INVALID: 403,
  DATATOKEN_NOT_OF_ASSET: 403,
  DATATOKEN_NOT_FROM_FACTORY: 403,
  ORDER_WRONG_CONSUMER: 403,
  ORDER_AMOUNT_TOO_LOW: 403,
  ORDER_WRONG_SERVICE_INDEX: 403,
  ORDER_EXPIRED: 403,

  // the provider fee in the order
  PROVIDER_FEE_MISSING: 403,
  PROVIDER_FEE_MULTIPLE: 403,
  PROVIDER_FEE_WRONG_PROVIDER: 403,
  PROVIDER_FEE_BAD_SIGNATURE: 403,
  PROVIDER_FEE_DATA_INVALID: 403,
  PROVIDER_FEE_WRONG_ENVIRONMENT: 403,
  PROVIDER_FEE_WRONG_DATATOKEN: 403,
  PROVIDER_FEE_WRONG_SERVICE: 403,
  PROVIDER_FEE_EXPIRED: 403,
  PROVIDER_FEE_NOT_PAID: 403,

  // initializeCompute
  VALID_UNTIL_INVALID: 400,
  ENVIRONMENT_PRICE_INVALID: 400,
} as const;

export type AccessDeniedCode = keyof typeof STATUS;

/** A refused access check: `code` for machines, `message` for people, `field` names the request part at fault. */
export class AccessDenied extends Error {
  readonly httpStatus: 400 | 403;

  constructor(
    readonly code: AccessDeniedCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AccessDenied';
    this.httpStatus = STATUS[code];
  }
}

/** The chain could not be asked (RPC down, timing out, answering garbage): the caller may retry later. */
export class ChainUnavailable extends Error {
  readonly code = 'CHAIN_UNAVAILABLE';
  readonly httpStatus = 503;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChainUnavailable';
  }
}

export const deny = (code: AccessDeniedCode, message: string, field?: string): AccessDenied =>
  new AccessDenied(code, message, field);
