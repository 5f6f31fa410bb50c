import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { apiMessage, isPermanentRefusal } from '../../../engine/kube.ts';

describe('isPermanentRefusal', () => {
  it.each([
    [400, true],
    [403, true],
    [413, true],
    [422, true],
    [409, false],
    [429, false],
    [500, false],
    [503, false],
    [undefined, false],
  ])('%s → %s', (status, permanent) => {
    expect(isPermanentRefusal(status)).toBe(permanent);
  });
});

describe('apiMessage', () => {
  it('reads the Status message of a response body, as text or parsed', () => {
    const status = {
      kind: 'Status',
      message: 'ConfigMap "c2d-job-x" is invalid: []: Too long: may not be more than 1048576 bytes',
      code: 422,
    };
    expect(apiMessage(new ApiException(422, 'Unprocessable', JSON.stringify(status), {}))).toBe(status.message);
    expect(apiMessage(new ApiException(422, 'Unprocessable', status, {}))).toBe(status.message);
  });

  it('falls back to a plain body or the error message, bounded', () => {
    expect(apiMessage(new ApiException(413, 'too large', 'x'.repeat(2000), {}))).toBe('x'.repeat(512));
    expect(apiMessage(new Error('socket hang up'))).toBe('socket hang up');
  });
});
