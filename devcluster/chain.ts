import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  Contract,
  ContractFactory,
  HDNodeWallet,
  JsonRpcProvider,
  NonceManager,
  Wallet,
  ZeroAddress,
  parseUnits,
  type InterfaceAbi,
} from 'ethers';
import { freePort, startProcess } from './processes.ts';
import { succeeded } from './receipts.ts';

/** Ocean's development chain id (barge uses it too). */
const OCEAN_DEV_CHAIN_ID = 8996;

export interface ChainHandle {
  rpcUrl: string;
  chainId: number;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

export interface ChainRoles {
  deployer: string;
  publisher: string;
  consumer: string;
  provider: string;
  other: string;
}

/** anvil's default mnemonic; passed explicitly so the keys below stay right whatever anvil's default becomes. */
const DEV_MNEMONIC = 'test test test test test test test test test test test junk';
const ROLES = ['deployer', 'publisher', 'consumer', 'provider', 'other'] as const;
let keysCache: ChainRoles | undefined;

/** The well-known funded private keys of the local chain, by role (accounts 0..4 of the dev mnemonic). */
export function devKeys(): ChainRoles {
  keysCache ??= Object.fromEntries(
    ROLES.map((role, i) => [role, HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey]),
  ) as unknown as ChainRoles;
  return { ...keysCache };
}

const require = createRequire(import.meta.url);

/**
 * The native anvil binary. The npm package's `bin` is a node wrapper that spawns it; running the binary directly
 * means our pid is anvil's, so stop() cannot orphan it.
 */
function anvilBinary(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const platformPackage = `@foundry-rs/anvil-${process.platform}-${arch}`;
  try {
    const binary = join(dirname(require.resolve(`${platformPackage}/package.json`)), 'bin', 'anvil');
    if (existsSync(binary)) return binary;
  } catch {
    // fall through to the wrapper
  }
  return join(dirname(require.resolve('@foundry-rs/anvil/package.json')), 'bin.mjs');
}

async function rpcChainId(rpcUrl: string): Promise<number> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    signal: AbortSignal.timeout(2_000),
  });
  const body = (await res.json()) as { result?: string };
  if (typeof body.result !== 'string') throw new Error(`eth_chainId answered ${JSON.stringify(body)}`);
  return Number(BigInt(body.result));
}

/** Starts anvil on 127.0.0.1 with Ocean's dev chain id and waits until it answers JSON-RPC. */
export async function startChain(opts: { port?: number; stateDir: string; chainId?: number }): Promise<ChainHandle> {
  mkdirSync(opts.stateDir, { recursive: true });
  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const chainId = opts.chainId ?? OCEAN_DEV_CHAIN_ID;
  const logFile = join(opts.stateDir, 'anvil.log');
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId)];
  args.push('--mnemonic', DEV_MNEMONIC, '--accounts', '10');
  const proc = startProcess('anvil', anvilBinary(), args, { logFile });
  const rpcUrl = `http://127.0.0.1:${port}`;
  let exited: number | string | undefined;
  void proc.exited.then((code) => (exited = code));
  try {
    // Not waitFor(): an anvil that exits (port taken, bad flag) must fail at once, not after the timeout.
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited !== undefined) throw new Error(`anvil exited (${exited})`);
      const answered = await rpcChainId(rpcUrl).catch(() => undefined);
      if (answered === chainId) break;
      if (answered !== undefined) throw new Error(`anvil answered chain id ${answered}, expected ${chainId}`);
      if (Date.now() > deadline) throw new Error(`anvil did not answer on ${rpcUrl} within 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await proc.stop();
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    throw new Error(`${(err as Error).message}\n--- ${logFile} ---\n${tail}`, { cause: err });
  }
  return { rpcUrl, chainId, pid: proc.child.pid ?? -1, logFile, stop: () => proc.stop() };
}

interface Artifact {
  contractName: string;
  abi: InterfaceAbi;
  bytecode: string;
}

const ARTIFACT_PATHS = {
  OceanToken: 'utils/OceanToken.sol/OceanToken.json',
  OPFCommunityFeeCollector: 'communityFee/OPFCommunityFeeCollector.sol/OPFCommunityFeeCollector.json',
  FactoryRouter: 'pools/FactoryRouter.sol/FactoryRouter.json',
  FixedRateExchange: 'pools/fixedRate/FixedRateExchange.sol/FixedRateExchange.json',
  Dispenser: 'pools/dispenser/Dispenser.sol/Dispenser.json',
  ERC20Template: 'templates/ERC20Template.sol/ERC20Template.json',
  ERC20TemplateEnterprise: 'templates/ERC20TemplateEnterprise.sol/ERC20TemplateEnterprise.json',
  ERC721Template: 'templates/ERC721Template.sol/ERC721Template.json',
  ERC721Factory: 'ERC721Factory.sol/ERC721Factory.json',
  Escrow: 'escrow/Escrow.sol/Escrow.json',
  AccessList: 'accesslists/AccessList.sol/AccessList.json',
  AccessListFactory: 'accesslists/AccessListFactory.sol/AccessListFactory.json',
} as const;

export type OceanArtifactName = keyof typeof ARTIFACT_PATHS;

const artifactCache = new Map<OceanArtifactName, Artifact>();

/** ABI and creation bytecode of one of Ocean's contracts, from the @oceanprotocol/contracts package. */
export function oceanArtifact(name: OceanArtifactName): Artifact {
  let artifact = artifactCache.get(name);
  if (!artifact) {
    const root = join(dirname(require.resolve('@oceanprotocol/contracts/package.json')), 'artifacts', 'contracts');
    artifact = JSON.parse(readFileSync(join(root, ARTIFACT_PATHS[name]), 'utf8')) as Artifact;
    artifactCache.set(name, artifact);
  }
  return artifact;
}

// FactoryRouter wants a pool template; Ocean's deploy script passes this placeholder since pools are gone.
const DEAD_ADDRESS = '0x000000000000000000000000000000000000dEaD';

/**
 * Deploys Ocean's v4 contracts the way Ocean's own deploy script does for a development chain: OCEAN token (minted
 * to the dev accounts), OPF community fee collector, router, fixed-rate exchange, datatoken and NFT templates,
 * dispenser, NFT factory, then registers the factory, exchange and dispenser with the router and the enterprise
 * datatoken template (index 2) with the factory, and deploys the compute escrow. Returns the addresses by contract name.
 */
export async function deployOcean(rpcUrl: string, deployerKey: string): Promise<Record<string, string>> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, pollingInterval: 100 });
  try {
    // Counting nonces locally: anvil's pending nonce can lag right after a mined transaction.
    const owner = new NonceManager(new Wallet(deployerKey, provider));
    const ownerAddress = await owner.getAddress();
    const deploy = async (name: OceanArtifactName, ...args: unknown[]): Promise<string> => {
      const { abi, bytecode } = oceanArtifact(name);
      const contract = await new ContractFactory(abi, bytecode, owner).deploy(...args);
      const deployment = contract.deploymentTransaction();
      if (!deployment) throw new Error(`deploying ${name}: no deployment transaction`);
      await succeeded(deployment, `deploying ${name}`);
      return contract.getAddress();
    };
    const send = async (name: OceanArtifactName, at: string, method: string, ...args: unknown[]): Promise<void> => {
      const contract = new Contract(at, oceanArtifact(name).abi, owner);
      await succeeded(await contract.getFunction(method).send(...args), `${name}.${method}`);
    };

    const ocean = await deploy('OceanToken', ownerAddress);
    await send('OceanToken', ocean, 'mint', ownerAddress, parseUnits('1000000', 18));
    for (const key of Object.values(devKeys()).slice(1)) {
      await send('OceanToken', ocean, 'mint', new Wallet(key).address, parseUnits('100000', 18));
    }
    const opfCollector = await deploy('OPFCommunityFeeCollector', ownerAddress, ownerAddress);
    const router = await deploy('FactoryRouter', ownerAddress, ocean, DEAD_ADDRESS, opfCollector, []);
    const fixedPrice = await deploy('FixedRateExchange', router);
    const erc20Template = await deploy('ERC20Template');
    const erc20TemplateEnterprise = await deploy('ERC20TemplateEnterprise');
    const erc721Template = await deploy('ERC721Template');
    const dispenser = await deploy('Dispenser', router);
    const factory = await deploy('ERC721Factory', erc721Template, erc20Template, router);

    await send('ERC721Factory', factory, 'addTokenTemplate', erc20TemplateEnterprise);
    await send('FactoryRouter', router, 'addFactory', factory);
    await send('FactoryRouter', router, 'addFixedRateContract', fixedPrice);
    await send('FactoryRouter', router, 'addDispenserContract', dispenser);
    // No collector of its own: the OPC fee on claims goes to the router's, as Ocean's deploy script sets it.
    const escrow = await deploy('Escrow', router, ZeroAddress);

    return {
      Ocean: ocean,
      OPFCommunityFeeCollector: opfCollector,
      Router: router,
      FixedPrice: fixedPrice,
      Dispenser: dispenser,
      ERC721Template: erc721Template,
      ERC20Template: erc20Template,
      ERC20TemplateEnterprise: erc20TemplateEnterprise,
      ERC721Factory: factory,
      Escrow: escrow,
    };
  } finally {
    provider.destroy();
  }
}
