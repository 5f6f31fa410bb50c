import { describe, expect, it } from 'vitest';
import { archivesToImport, seedKey } from '../../../../devcluster/real-node/containerd-seed.ts';

const archives = {
  pause: '/cache/images/pause-v1.34.4-534b240b0eb6.tar',
  engine: '/cache/images/engine-8aadfdb6cbe1.tar',
};

describe('seedKey', () => {
  it('depends on containerd and the archives, not on their order or directory', () => {
    const key = seedKey('containerd 1.6.20', archives);
    expect(seedKey('containerd 1.6.20', { engine: archives.engine, pause: archives.pause })).toBe(key);
    expect(
      seedKey('containerd 1.6.20', { pause: '/elsewhere/pause-v1.34.4-534b240b0eb6.tar', engine: archives.engine }),
    ).toBe(key);
    expect(seedKey('containerd 1.7.0', archives)).not.toBe(key);
    expect(seedKey('containerd 1.6.20', { ...archives, engine: '/cache/images/engine-000000000000.tar' })).not.toBe(
      key,
    );
  });
});

describe('archivesToImport', () => {
  it('is every archive when the seed holds none', () => {
    expect(archivesToImport(archives)).toEqual(archives);
  });

  it('is only what changed or is new since the seed was made', () => {
    const wanted = { ...archives, engine: '/cache/images/engine-111111111111.tar', python: '/cache/images/python.tar' };
    expect(archivesToImport(wanted, archives)).toEqual({
      engine: '/cache/images/engine-111111111111.tar',
      python: '/cache/images/python.tar',
    });
    expect(archivesToImport(archives, archives)).toEqual({});
  });
});
