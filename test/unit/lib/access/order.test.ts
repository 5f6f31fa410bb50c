import { ZeroAddress, getAddress, type Provider } from 'ethers';
import { describe, expect, it } from 'vitest';
import { encodeProviderData, signProviderFee, type ProviderFee } from '../../../../lib/chain/provider-fee.ts';
import type { ChainContext } from '../../../../lib/access/chain-context.ts';
import { findService } from '../../../../lib/access/compute-policy.ts';
import { erc20Template, erc721Factory, erc721Template } from '../../../../lib/access/contracts.ts';
import { assertDatatokenOfAsset, verifyOrder, type OrderRequest } from '../../../../lib/access/order.ts';
import { DATASET_DT, DATASET_NFT, consumer, datasetDdo, otherKey, providerKey } from './fixtures.ts';

// A stand-in for the chain, answering the calls verifyOrder makes from plain facts. The integration tests run the
// same checks against real contracts; here each check is pinned down on its own.

const FACTORY = getAddress('0x' + 'fa'.repeat(20));
const NFT = getAddress(DATASET_NFT);
const DT = getAddress(DATASET_DT);
const OTHER_NFT = getAddress('0x' + '11'.repeat(20));
const OTHER_DT = getAddress('0x' + '21'.repeat(20));
const LOOK_ALIKE_DT = getAddress('0x' + '22'.repeat(20));
const FEE_TOKEN = getAddress('0x' + '55'.repeat(20));
const TX = '0x' + 'ab'.repeat(32);
const NOW = 1_800_000_000;

interface Facts {
  factoryNfts: string[];
  factoryDatatokens: string[];
  /** The NFT's isDeployed(datatoken). */
  children: Record<string, string[]>;
  /** The datatoken's getERC721Address(). */
  parent: Record<string, string>;
  /** Event logs of transaction TX. */
  logs: { address: string; topics: readonly string[]; data: string }[];
}

const honest: Facts = {
  factoryNfts: [NFT, OTHER_NFT],
  factoryDatatokens: [DT, OTHER_DT],
  children: { [NFT]: [DT], [OTHER_NFT]: [OTHER_DT] },
  parent: { [DT]: NFT, [OTHER_DT]: OTHER_NFT, [LOOK_ALIKE_DT]: NFT },
  logs: [],
};

function chainOf(facts: Facts): ChainContext {
  const provider = {
    async call({ to, data }: { to: string; data: string }): Promise<string> {
      const target = getAddress(to);
      if (target === FACTORY) {
        const tx = erc721Factory.parseTransaction({ data })!;
        const asked = getAddress(tx.args[0] as string);
        if (tx.name === 'erc721List')
          return erc721Factory.encodeFunctionResult(tx.name, [facts.factoryNfts.includes(asked) ? asked : ZeroAddress]);
        return erc721Factory.encodeFunctionResult(tx.name, [facts.factoryDatatokens.includes(asked)]);
      }
      if (facts.children[target]) {
        const asked = getAddress(erc721Template.parseTransaction({ data })!.args[0] as string);
        return erc721Template.encodeFunctionResult('isDeployed', [facts.children[target].includes(asked)]);
      }
      return erc20Template.encodeFunctionResult('getERC721Address', [facts.parent[target] ?? ZeroAddress]);
    },
    async getTransactionReceipt(hash: string) {
      return hash === TX ? { status: 1, logs: facts.logs } : null;
    },
  } as unknown as Provider;
  return { provider, chainId: 8996, factoryAddress: FACTORY };
}

function orderStarted(datatoken = DT) {
  const args = [consumer, consumer, 10n ** 18n, 1n, BigInt(NOW - 60), ZeroAddress, 100n];
  return { address: datatoken, ...erc20Template.encodeEventLog('OrderStarted', args) };
}

function providerFeeLog(fee: ProviderFee, datatoken = DT) {
  const { providerFeeAddress, providerFeeToken, providerFeeAmount, providerData, v, r, s, validUntil } = fee;
  const args = [
    providerFeeAddress,
    providerFeeToken,
    BigInt(providerFeeAmount),
    providerData,
    v,
    r,
    s,
    BigInt(validUntil),
  ];
  return { address: datatoken, ...erc20Template.encodeEventLog('ProviderFee', args) };
}

function fee(signer = providerKey): ProviderFee {
  const providerData = encodeProviderData({ environment: 'small', timestamp: NOW - 60, dt: DT, id: 'compute-1' });
  return signProviderFee(signer, {
    providerFeeToken: FEE_TOKEN,
    providerFeeAmount: 0n,
    providerData,
    validUntil: NOW + 3600,
  });
}

const field = 'additionalDatasets.0.transferTxId';

function request(): OrderRequest {
  const ddo = datasetDdo();
  return {
    txId: TX,
    ddo,
    service: findService(ddo, 'compute-1'),
    consumerAddress: consumer,
    providerAddress: providerKey.address,
    environmentId: 'small',
    jobDurationSeconds: 600,
    now: NOW,
    field,
  };
}

describe('assertDatatokenOfAsset', () => {
  it("accepts the asset's own datatoken, made by the factory", async () => {
    await expect(assertDatatokenOfAsset(chainOf(honest), NFT, DT, field)).resolves.toBeUndefined();
  });

  it('refuses an NFT the factory did not make, naming the field', async () => {
    const facts = { ...honest, factoryNfts: [OTHER_NFT] };
    await expect(assertDatatokenOfAsset(chainOf(facts), NFT, DT, field)).rejects.toMatchObject({
      code: 'NFT_NOT_FROM_FACTORY',
      field,
    });
  });

  it('refuses a datatoken the factory did not make, even one claiming the NFT as its parent', async () => {
    await expect(assertDatatokenOfAsset(chainOf(honest), NFT, LOOK_ALIKE_DT, field)).rejects.toMatchObject({
      code: 'DATATOKEN_NOT_FROM_FACTORY',
      field,
      httpStatus: 403,
    });
  });

  it('refuses the datatoken of another asset', async () => {
    await expect(assertDatatokenOfAsset(chainOf(honest), NFT, OTHER_DT, field)).rejects.toMatchObject({
      code: 'DATATOKEN_NOT_OF_ASSET',
      field,
    });
  });

  it('needs both sides to agree: the NFT deployed it and it names the NFT', async () => {
    const onlyParent = { ...honest, parent: { ...honest.parent, [OTHER_DT]: NFT } };
    await expect(assertDatatokenOfAsset(chainOf(onlyParent), NFT, OTHER_DT)).rejects.toMatchObject({
      code: 'DATATOKEN_NOT_OF_ASSET',
    });
    const onlyChild = { ...honest, children: { ...honest.children, [NFT]: [DT, OTHER_DT] } };
    await expect(assertDatatokenOfAsset(chainOf(onlyChild), NFT, OTHER_DT)).rejects.toMatchObject({
      code: 'DATATOKEN_NOT_OF_ASSET',
    });
  });
});

describe("verifyOrder's provider fee", () => {
  it('accepts a fee this provider signed', async () => {
    const chain = chainOf({ ...honest, logs: [orderStarted(), providerFeeLog(fee())] });
    await expect(verifyOrder(chain, request())).resolves.toMatchObject({
      consumer,
      serviceIndex: 1,
      providerFee: { validUntil: NOW + 3600 },
    });
  });

  it('refuses a fee another key signed for itself', async () => {
    const chain = chainOf({ ...honest, logs: [orderStarted(), providerFeeLog(fee(otherKey))] });
    await expect(verifyOrder(chain, request())).rejects.toMatchObject({ code: 'PROVIDER_FEE_WRONG_PROVIDER', field });
  });

  it('refuses a fee naming this provider that another key signed (only a contract other than Ocean emits that)', async () => {
    const forged = { ...fee(otherKey), providerFeeAddress: providerKey.address };
    const chain = chainOf({ ...honest, logs: [orderStarted(), providerFeeLog(forged)] });
    await expect(verifyOrder(chain, request())).rejects.toMatchObject({ code: 'PROVIDER_FEE_BAD_SIGNATURE', field });
  });

  it('ignores a fee emitted by another token in the same transaction', async () => {
    const chain = chainOf({ ...honest, logs: [orderStarted(), providerFeeLog(fee(), OTHER_DT)] });
    await expect(verifyOrder(chain, request())).rejects.toMatchObject({ code: 'PROVIDER_FEE_MISSING', field });
  });
});
