import {
  Signature,
  getAddress,
  getBytes,
  hashMessage,
  hexlify,
  isHexString,
  recoverAddress,
  solidityPackedKeccak256,
  toUtf8Bytes,
  toUtf8String,
  type SigningKey,
} from 'ethers';

/** A provider fee as `ERC20Template.startOrder` takes it; field names are ocean.js's `ProviderFees`. */
export interface ProviderFee {
  providerFeeAddress: string;
  providerFeeToken: string;
  /** Amount in the fee token's smallest unit, decimal string. */
  providerFeeAmount: string;
  /** 0x-hex of the UTF-8 JSON of {@link ProviderData}. */
  providerData: string;
  v: number;
  r: string;
  s: string;
  /** Unix seconds. */
  validUntil: number;
}

/** What Ocean's provider puts into `providerData` for a compute order. */
export interface ProviderData {
  /** Compute environment id. */
  environment: string;
  /** Unix seconds when the fee was issued. */
  timestamp: number;
  /** Datatoken the order is for. */
  dt: string;
  /** Service id within the DDO. */
  id: string;
}

export type UnsignedProviderFee = Omit<ProviderFee, 'providerFeeAddress' | 'v' | 'r' | 's'>;

export function encodeProviderData(data: ProviderData): string {
  const { environment, timestamp, dt, id } = data;
  return hexlify(toUtf8Bytes(JSON.stringify({ environment, timestamp, dt, id })));
}

/** Parses `providerData` hex; throws if it is not the JSON object {@link encodeProviderData} writes. */
export function decodeProviderData(hex: string): ProviderData {
  if (!isHexString(hex)) throw new Error('providerData is not 0x-hex');
  let parsed: unknown;
  try {
    parsed = JSON.parse(toUtf8String(hex));
  } catch {
    throw new Error('providerData is not UTF-8 JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw new Error('providerData is not a JSON object');
  const { environment, timestamp, dt, id } = parsed as Record<string, unknown>;
  if (typeof environment !== 'string') throw new Error('providerData.environment must be a string');
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) {
    throw new Error('providerData.timestamp must be a number');
  }
  if (typeof dt !== 'string') throw new Error('providerData.dt must be a string');
  if (typeof id !== 'string') throw new Error('providerData.id must be a string');
  return { environment, timestamp, dt, id };
}

/**
 * The 32-byte digest `ERC20Template` checks the provider's signature against (before the EIP-191 prefix):
 * keccak256(abi.encodePacked(providerData, providerFeeAddress, providerFeeToken, providerFeeAmount, validUntil)).
 */
export function providerFeeDigest(fee: Omit<ProviderFee, 'v' | 'r' | 's'>): string {
  const { providerData, providerFeeAddress, providerFeeToken, providerFeeAmount, validUntil } = fee;
  return solidityPackedKeccak256(
    ['bytes', 'address', 'address', 'uint256', 'uint256'],
    [providerData, providerFeeAddress, providerFeeToken, BigInt(providerFeeAmount), BigInt(validUntil)],
  );
}

/** Signs a provider fee with the provider's key; the fee's address is the signer's, as the contract requires. */
export function signProviderFee(
  signer: { signingKey: SigningKey; address: string },
  fee: Omit<UnsignedProviderFee, 'providerFeeAmount'> & { providerFeeAmount: string | bigint },
): ProviderFee {
  const unsigned = {
    providerFeeAddress: getAddress(signer.address),
    providerFeeToken: getAddress(fee.providerFeeToken),
    providerFeeAmount: BigInt(fee.providerFeeAmount).toString(10),
    providerData: hexlify(fee.providerData),
    validUntil: fee.validUntil,
  };
  const sig = signer.signingKey.sign(hashMessage(getBytes(providerFeeDigest(unsigned))));
  return { ...unsigned, v: sig.v, r: sig.r, s: sig.s };
}

/** The address whose key signed this fee (what `ecrecover` yields on chain). Throws on a malformed signature. */
export function recoverProviderFeeSigner(fee: ProviderFee): string {
  const signature = Signature.from({ v: fee.v, r: fee.r, s: fee.s });
  return recoverAddress(hashMessage(getBytes(providerFeeDigest(fee))), signature);
}
