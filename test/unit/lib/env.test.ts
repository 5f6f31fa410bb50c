import { describe, expect, it } from 'vitest';
import { ConfigurationError, Env } from '../../../lib/env.ts';

describe('reading settings from the environment', () => {
  it('treats an empty variable as unset, and names a missing one', () => {
    const env = new Env({ SET: 'x', EMPTY: '' });
    expect(env.optional('SET')).toBe('x');
    expect(env.optional('EMPTY')).toBeUndefined();
    expect(env.string('EMPTY', 'fallback')).toBe('fallback');
    expect(() => env.string('EMPTY')).toThrow(new ConfigurationError('EMPTY', 'is not set'));
    expect(() => env.string('MISSING')).toThrow('configuration: MISSING is not set');
  });

  it('reads integers within bounds, and says which bounds a refused one broke', () => {
    const env = new Env({ N: '42', ZERO: '0', NEG: '-3', FRACTION: '1.5', HEX: '0x10', HUGE: '9'.repeat(20) });
    expect(env.int('N', 7)).toBe(42);
    expect(env.int('MISSING', 7)).toBe(7);
    expect(env.int('ZERO', 7, { min: 0 })).toBe(0);
    expect(() => env.int('ZERO', 7)).toThrow('configuration: ZERO must be a positive integer');
    expect(() => env.int('NEG', 7, { min: 0 })).toThrow('configuration: NEG must be an integer of at least 0');
    expect(() => env.int('N', 7, { min: 1, max: 10 })).toThrow('configuration: N must be an integer from 1 to 10');
    for (const name of ['FRACTION', 'HEX', 'HUGE']) expect(() => env.int(name, 7)).toThrow(name);
    expect(env.optionalInt('MISSING')).toBeUndefined();
    expect(() => env.requiredInt('MISSING')).toThrow('configuration: MISSING is not set');
  });

  it('reads booleans as exactly true or false', () => {
    const env = new Env({ ON: 'true', OFF: 'false', YES: 'yes' });
    expect(env.boolean('ON', false)).toBe(true);
    expect(env.boolean('OFF', true)).toBe(false);
    expect(env.boolean('MISSING', true)).toBe(true);
    expect(() => env.boolean('YES', false)).toThrow('configuration: YES must be true or false');
  });

  it('checks patterns and URLs without repeating the refused value', () => {
    const env = new Env({
      LABEL: 'Not_A_Label',
      URL: 'http://127.0.0.1:9000',
      FTP: 'ftp://x',
      SECRET: 'hunter2 not a url',
    });
    expect(() => env.matching('LABEL', /^[a-z]+$/, 'must be a DNS label')).toThrow(
      'configuration: LABEL must be a DNS label',
    );
    expect(env.matching('MISSING', /^[a-z]+$/, 'must be a DNS label', 'dflt')).toBe('dflt');
    expect(env.url('URL')).toBe('http://127.0.0.1:9000');
    expect(() => env.url('FTP')).toThrow('configuration: FTP must be an http or https URL');
    let message = '';
    try {
      env.url('SECRET');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('configuration: SECRET must be a URL');
  });

  it('turns a parser failure into an error naming the variable', () => {
    const env = new Env({ LIST: 'a,b', BAD: 'a,,b' });
    const parse = (text: string): string[] => {
      const parts = text.split(',');
      if (parts.includes('')) throw new Error('an entry is empty');
      return parts;
    };
    expect(env.parsed('LIST', parse, '')).toEqual(['a', 'b']);
    expect(env.parsed('MISSING', parse, 'z')).toEqual(['z']);
    expect(() => env.parsed('BAD', parse, '')).toThrow('configuration: BAD is not valid: an entry is empty');
  });
});
