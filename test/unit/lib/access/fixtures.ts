import { Wallet, toUtf8Bytes } from 'ethers';
import { didFromNft } from '../../../../lib/access/did.ts';
import type { Ddo } from '../../../../lib/access/ddo.ts';
import { eciesEncrypt } from '../../../../lib/access/ecies.ts';

export const CHAIN_ID = 8996;
export const PROVIDER_URL = 'http://provider.example:8030';
export const providerKey = new Wallet('0x' + '11'.repeat(32));
export const otherKey = new Wallet('0x' + '22'.repeat(32));
export const consumer = new Wallet('0x' + '33'.repeat(32)).address;
export const publisher = new Wallet('0x' + '44'.repeat(32)).address;

export const DATASET_NFT = '0x1000000000000000000000000000000000000001';
export const DATASET_DT = '0x2000000000000000000000000000000000000002';
export const ALGO_NFT = '0x3000000000000000000000000000000000000003';
export const ALGO_DT = '0x4000000000000000000000000000000000000004';
export const IMAGE_DIGEST = 'sha256:' + 'ab'.repeat(32);

export function encryptedFiles(
  nftAddress: string,
  datatokenAddress: string,
  url = 'https://data.example/file.csv',
): string {
  const files = {
    nftAddress,
    datatokenAddress,
    files: [{ type: 'url', url, method: 'GET', headers: { Authorization: 'Bearer s3cr3t' } }],
  };
  return eciesEncrypt(providerKey.signingKey.publicKey, toUtf8Bytes(JSON.stringify(files)));
}

export function datasetDdo(compute: Partial<NonNullable<Ddo['services'][number]['compute']>> = {}): Ddo {
  return {
    '@context': ['https://w3id.org/did/v1'],
    id: didFromNft(DATASET_NFT, CHAIN_ID),
    version: '4.1.0',
    chainId: CHAIN_ID,
    nftAddress: DATASET_NFT,
    metadata: { type: 'dataset', name: 'weather', description: 'd', author: 'a', license: 'CC0' },
    services: [
      {
        id: 'access-1',
        type: 'access',
        files: encryptedFiles(DATASET_NFT, DATASET_DT),
        datatokenAddress: DATASET_DT,
        serviceEndpoint: PROVIDER_URL,
        timeout: 0,
      },
      {
        id: 'compute-1',
        type: 'compute',
        files: encryptedFiles(DATASET_NFT, DATASET_DT),
        datatokenAddress: DATASET_DT,
        serviceEndpoint: PROVIDER_URL + '/',
        timeout: 3600,
        compute: {
          allowRawAlgorithm: false,
          allowNetworkAccess: false,
          publisherTrustedAlgorithmPublishers: [],
          publisherTrustedAlgorithms: [],
          ...compute,
        },
      },
    ],
  };
}

export function algorithmDdo(
  container: Partial<{ entrypoint: string; image: string; tag: string; checksum: string }> = {},
): Ddo {
  return {
    '@context': ['https://w3id.org/did/v1'],
    id: didFromNft(ALGO_NFT, CHAIN_ID),
    version: '4.1.0',
    chainId: CHAIN_ID,
    nftAddress: ALGO_NFT,
    metadata: {
      type: 'algorithm',
      name: 'mean',
      algorithm: {
        language: 'python',
        version: '1',
        container: { entrypoint: 'python $ALGO', image: 'python', tag: '3.12', checksum: IMAGE_DIGEST, ...container },
      },
    },
    services: [
      {
        id: 'algo-access',
        type: 'access',
        files: encryptedFiles(ALGO_NFT, ALGO_DT, 'https://code.example/mean.py'),
        datatokenAddress: ALGO_DT,
        serviceEndpoint: PROVIDER_URL,
        timeout: 0,
      },
    ],
  };
}
