import { describe, expect, it } from 'vitest';
import { FunctionConfig } from '../../../../lib/api/config.ts';
import { addressPermitted } from '../../../../lib/http/address-policy.ts';
import { HttpError, toHttpError } from '../../../../lib/http/errors.ts';
import { AccessDenied, ChainUnavailable } from '../../../../lib/access/errors.ts';

describe('the configuration start and initializeCompute read', () => {
  it('keeps internal file hosts closed but for those PRIVATE_FILE_HOSTS_ALLOWED names', () => {
    expect(new FunctionConfig({}).privateFileHosts.text).toBe('');
    const allowed = new FunctionConfig({ PRIVATE_FILE_HOSTS_ALLOWED: '127.0.0.1:8080, 10.1.0.0/16' }).privateFileHosts;
    expect(addressPermitted('127.0.0.1', 8080, allowed)).toBe(true);
    expect(addressPermitted('127.0.0.1', 9000, allowed)).toBe(false);
    expect(addressPermitted('10.1.2.3', 443, allowed)).toBe(true);
    expect(() => new FunctionConfig({ PRIVATE_FILE_HOSTS_ALLOWED: 'true' })).toThrow(
      /PRIVATE_FILE_HOSTS_ALLOWED.*"true"/,
    );
  });

  it('answers unsigned status requests unless STATUS_REQUIRES_SIGNATURE=true', () => {
    expect(new FunctionConfig({}).statusRequiresSignature).toBe(false);
    expect(new FunctionConfig({ STATUS_REQUIRES_SIGNATURE: 'true' }).statusRequiresSignature).toBe(true);
    expect(() => new FunctionConfig({ STATUS_REQUIRES_SIGNATURE: 'yes' })).toThrow(/STATUS_REQUIRES_SIGNATURE/);
  });

  it('names the variable a function needs but lacks', () => {
    const config = new FunctionConfig({});
    expect(() => config.factoryAddress).toThrow('configuration: ERC721_FACTORY_ADDRESS is required by this function');
    expect(() => config.serviceEndpoint).toThrow(/PROVIDER_URL/);
    expect(() => new FunctionConfig({ ERC721_FACTORY_ADDRESS: '0x12' })).toThrow(/ERC721_FACTORY_ADDRESS/);
    const set = new FunctionConfig({
      ERC721_FACTORY_ADDRESS: '0x' + 'ab'.repeat(20),
      PROVIDER_URL: 'http://127.0.0.1:8030',
    });
    expect(set.factoryAddress).toBe('0x' + 'ab'.repeat(20));
    expect(set.serviceEndpoint).toBe('http://127.0.0.1:8030');
  });
});

describe('error bodies of refused access checks', () => {
  it('carry the refusal code and the field at fault', () => {
    const body = toHttpError(new AccessDenied('ORDER_EXPIRED', 'the order expired', 'dataset.transferTxId')).body();
    expect(body).toEqual({ error: 'the order expired', code: 'ORDER_EXPIRED', field: 'dataset.transferTxId' });
    expect(toHttpError(new ChainUnavailable('chain RPC timed out')).body()).toEqual({
      error: 'chain RPC timed out',
      code: 'CHAIN_UNAVAILABLE',
    });
    expect(new HttpError(404, 'job not found').body()).toEqual({ error: 'job not found' });
  });
});
