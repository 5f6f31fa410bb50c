import { describe, expect, it } from 'vitest';
import { IMAGES } from '../../../scripts/images/probes.ts';

describe('the checks run inside each image', () => {
  it('covers the three Dockerfiles, each with its isolation and import checks', () => {
    expect(IMAGES.map((i) => i.dockerfile)).toEqual([
      'docker/functions.Dockerfile',
      'docker/engine.Dockerfile',
      'docker/pod-programs.Dockerfile',
    ]);
    for (const i of IMAGES)
      expect(i.checks.slice(0, 2).map((c) => c.name)).toEqual([
        'runs as USER, without the repository, code read-only',
        'every import in the compiled code, static or dynamic, resolves in the image',
      ]);
  });
});
