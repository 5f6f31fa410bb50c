import { describe, expect, it } from 'vitest';
import { FunctionConfig } from '../../../lib/api/config.ts';
import { HttpError, toHttpError } from '../../../lib/http/errors.ts';
import { AccessDenied, ChainUnavailable } from '../../../lib/access/errors.ts';

describe('the configuration start and initializeCompute read', () => {
  it('keeps private file hosts closed unless ALLOW_PRIVATE_FILE_HOSTS=true', () => {
    expect(new FunctionConfig({}).allowPrivateFileHosts).toBe(false);
    expect(new FunctionConfig({ ALLOW_PRIVATE_FILE_HOSTS: 'true' }).allowPrivateFileHosts).toBe(true);
    expect(() => new FunctionConfig({ ALLOW_PRIVATE_FILE_HOSTS: 'yes' })).toThrow(/ALLOW_PRIVATE_FILE_HOSTS/);
  });

  it('names the variable a function needs but lacks', () => {
    const config = new FunctionConfig({});
    expect(() => config.factoryAddress).toThrow('configuration: ERC721_FACTORY_ADDRESS is required by this function');
    expect(() => config.serviceEndpoint).toThrow(/PROVIDER_URL/);
    expect(() => new FunctionConfig({ ERC721_FACTORY_ADDRESS: '0x12' })).toThrow(/ERC721_FACTORY_ADDRESS/);
    const set = new FunctionConfig({ ERC721_FACTORY_ADDRESS: '0x' + 'ab'.repeat(20), PROVIDER_URL: 'http://127.0.0.1:8030' });
    expect(set.factoryAddress).toBe('0x' + 'ab'.repeat(20));
    expect(set.serviceEndpoint).toBe('http://127.0.0.1:8030');
  });
});

describe('error bodies of refused access checks', () => {
  it('carry the refusal code and the field at fault', () => {
    const body = toHttpError(new AccessDenied('ORDER_EXPIRED', 'the order expired', 'dataset.transferTxId')).body();
    expect(body).toEqual({ error: 'the order expired', code: 'ORDER_EXPIRED', field: 'dataset.transferTxId' });
    expect(toHttpError(new ChainUnavailable('chain RPC timed out')).body()).toEqual({ error: 'chain RPC timed out', code: 'CHAIN_UNAVAILABLE' });
    expect(new HttpError(404, 'job not found').body()).toEqual({ error: 'job not found' });
  });
});
