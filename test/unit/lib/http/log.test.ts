import { describe, expect, it } from 'vitest';
import { errorText } from '../../../../lib/http/log.ts';

describe('errorText', () => {
  it('follows the causes, so undici\'s "fetch failed" says why', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    expect(errorText(new TypeError('fetch failed', { cause: refused }))).toBe(
      'fetch failed: connect ECONNREFUSED 127.0.0.1:6443',
    );
  });

  it('reads what is not an Error, and stops on a cause chain that loops', () => {
    expect(errorText('plain')).toBe('plain');
    expect(errorText(new Error('outer', { cause: 'inner' }))).toBe('outer: inner');
    const loop = new Error('again') as Error & { cause?: unknown };
    loop.cause = loop;
    expect(errorText(loop)).toBe('again: again: again: again: again');
  });
});
