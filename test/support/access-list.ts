import { Contract, ContractFactory, type Signer } from 'ethers';
import { oceanArtifact } from '../../devcluster/chain.ts';
import { succeeded } from '../../devcluster/receipts.ts';

/**
 * An AccessList made as Ocean's tools make one: the AccessList template and an AccessListFactory deployed from
 * @oceanprotocol/contracts' artifacts, then `deployAccessListContract` (non-transferable, owned by `owner`), whose
 * NewAccessList event names the list. `mint` gives an address a token of it: what makes the address "on the list".
 */
export async function deployAccessList(owner: Signer, name: string) {
  const deploy = async (artifact: 'AccessList' | 'AccessListFactory', ...args: unknown[]): Promise<string> => {
    const { abi, bytecode } = oceanArtifact(artifact);
    const contract = await new ContractFactory(abi, bytecode, owner).deploy(...args);
    await succeeded(contract.deploymentTransaction()!, `deploying ${artifact}`);
    return contract.getAddress();
  };
  const template = await deploy('AccessList');
  const factory = new Contract(
    await deploy('AccessListFactory', template),
    oceanArtifact('AccessListFactory').abi,
    owner,
  );
  const tx = await factory.getFunction('deployAccessListContract')(
    name,
    'ACL',
    false,
    await owner.getAddress(),
    [],
    [],
  );
  const receipt = await succeeded(tx, 'deployAccessListContract');
  const created = receipt.logs
    .map((log) => factory.interface.parseLog(log))
    .find((event) => event?.name === 'NewAccessList');
  if (!created) throw new Error('deployAccessListContract: no NewAccessList event');
  const address = String(created.args.contractAddress);
  const list = new Contract(address, oceanArtifact('AccessList').abi, owner);
  return {
    address,
    async mint(to: string): Promise<void> {
      await succeeded(await list.getFunction('mint')(to, 'https://example.org/acl.json'), 'AccessList.mint');
    },
    async balanceOf(who: string): Promise<bigint> {
      return (await list.getFunction('balanceOf')(who)) as bigint;
    },
  };
}
