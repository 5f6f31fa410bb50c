import { createRequire } from 'node:module';
import { Interface, type InterfaceAbi } from 'ethers';
import { describe, expect, it } from 'vitest';
import { erc20Template, erc721Factory, erc721Template } from '../../../../lib/access/contracts.ts';

const require = createRequire(import.meta.url);
const artifact = (path: string) =>
  new Interface((require(`@oceanprotocol/contracts/artifacts/contracts/${path}`) as { abi: InterfaceAbi }).abi);

describe('contract fragments', () => {
  it.each([
    ['ERC721Template', erc721Template, 'templates/ERC721Template.sol/ERC721Template.json'],
    ['ERC20Template', erc20Template, 'templates/ERC20Template.sol/ERC20Template.json'],
    ['ERC20TemplateEnterprise', erc20Template, 'templates/ERC20TemplateEnterprise.sol/ERC20TemplateEnterprise.json'],
    ['ERC721Factory', erc721Factory, 'ERC721Factory.sol/ERC721Factory.json'],
  ])('match the %s ABI shipped by @oceanprotocol/contracts', (_, ours, path) => {
    const theirs = artifact(path);
    ours.forEachEvent((event) => {
      expect(theirs.getEvent(event.topicHash)?.format('full')).toBe(event.format('full'));
    });
    ours.forEachFunction((fn) => {
      const match = theirs.getFunction(fn.selector);
      expect(match?.format('sighash')).toBe(fn.format('sighash'));
      expect(match?.outputs.map((o) => o.type)).toEqual(fn.outputs.map((o) => o.type));
    });
  });
});
