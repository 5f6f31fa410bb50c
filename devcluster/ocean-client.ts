import { createRequire } from 'node:module';
import type { Provider } from '../node_modules/@oceanprotocol/lib/dist/types/services/Provider.js';

/**
 * Ocean's own client, ocean.js 3.x, as the consumer uses it. Its package exports carry no types condition, so the
 * types are taken from its dist folder; and it signs with ethers 5 Signers, so the ethers it ships with is exported
 * alongside.
 */
const require = createRequire(import.meta.url);
export const ProviderInstance = (require('@oceanprotocol/lib') as { ProviderInstance: Provider }).ProviderInstance;
export const ethers5 = createRequire(require.resolve('@oceanprotocol/lib'))(
  'ethers',
) as typeof import('../node_modules/@oceanprotocol/lib/node_modules/ethers/lib/index.js');
