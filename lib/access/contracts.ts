import { Interface } from 'ethers';

/**
 * The fragments of Ocean's contracts the access checks use, written out so that each module shows what it touches.
 * test/unit/lib/access/contracts.test.ts checks them against the ABIs shipped in @oceanprotocol/contracts.
 */

export const erc721Template = new Interface([
  'event MetadataCreated(address indexed createdBy, uint8 state, string decryptorUrl, bytes flags, bytes data, bytes32 metaDataHash, uint256 timestamp, uint256 blockNumber)',
  'event MetadataUpdated(address indexed updatedBy, uint8 state, string decryptorUrl, bytes flags, bytes data, bytes32 metaDataHash, uint256 timestamp, uint256 blockNumber)',
  'function getMetaData() view returns (string, string, uint8, bool)',
  'function isDeployed(address datatoken) view returns (bool)',
  'function ownerOf(uint256 tokenId) view returns (address)',
]);

export const erc20Template = new Interface([
  'event OrderStarted(address indexed consumer, address payer, uint256 amount, uint256 serviceIndex, uint256 timestamp, address indexed publishMarketAddress, uint256 blockNumber)',
  'event OrderReused(bytes32 orderTxId, address caller, uint256 timestamp, uint256 number)',
  'event ProviderFee(address indexed providerFeeAddress, address indexed providerFeeToken, uint256 providerFeeAmount, bytes providerData, uint8 v, bytes32 r, bytes32 s, uint256 validUntil)',
  'function getERC721Address() view returns (address)',
]);

export const erc721Factory = new Interface([
  'event NFTCreated(address newTokenAddress, address indexed templateAddress, string tokenName, address indexed admin, string symbol, string tokenURI, bool transferable, address indexed creator)',
  'function erc721List(address) view returns (address)',
  'function erc20List(address) view returns (bool)',
]);

export function topicOf(iface: Interface, event: string): string {
  const fragment = iface.getEvent(event);
  if (!fragment) throw new Error(`no event ${event}`);
  return fragment.topicHash;
}
