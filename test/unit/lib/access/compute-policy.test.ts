import { describe, expect, it } from 'vitest';
import { containerSectionChecksum } from '../../../../lib/access/algo-checksums.ts';
import {
  checkCredentials,
  evaluateComputePolicy,
  filesChecksumPinned,
  isOurEndpoint,
  normaliseEndpoint,
  type PolicyInput,
  type PublishedAlgorithmFacts,
} from '../../../../lib/access/compute-policy.ts';
import type { Ddo } from '../../../../lib/access/ddo.ts';
import { AccessDenied } from '../../../../lib/access/errors.ts';
import { IMAGE_DIGEST, PROVIDER_URL, algorithmDdo, consumer, datasetDdo, publisher } from './fixtures.ts';

const FILES_CHECKSUM = 'aa'.repeat(32);
const algo = algorithmDdo();
const CONTAINER_CHECKSUM = containerSectionChecksum({ entrypoint: 'python $ALGO', checksum: IMAGE_DIGEST });
const trusted = { did: algo.id, filesChecksum: FILES_CHECKSUM, containerSectionChecksum: CONTAINER_CHECKSUM };

function published(overrides: Partial<PublishedAlgorithmFacts> = {}): PublishedAlgorithmFacts {
  return {
    kind: 'published',
    ddo: algo,
    serviceId: 'algo-access',
    owner: publisher,
    filesChecksum: FILES_CHECKSUM,
    ...overrides,
  };
}

function input(
  dataset: Ddo,
  algorithm: PolicyInput['algorithm'] = published(),
  extra: Partial<PolicyInput> = {},
): PolicyInput {
  return {
    providerUrls: [PROVIDER_URL],
    consumerAddress: consumer,
    datasets: [{ ddo: dataset, serviceId: 'compute-1' }],
    algorithm,
    ...extra,
  };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AccessDenied) return err.code;
    throw err;
  }
  return 'ALLOWED';
}

const raw = {
  kind: 'raw' as const,
  rawcode: 'print(1)',
  container: { entrypoint: 'python $ALGO', image: 'python', tag: '3', checksum: IMAGE_DIGEST },
};

describe('evaluateComputePolicy', () => {
  it('permits an algorithm pinned in publisherTrustedAlgorithms with matching checksums', () => {
    const permit = evaluateComputePolicy(input(datasetDdo({ publisherTrustedAlgorithms: [trusted] })));
    expect(permit.trust).toEqual(['trusted-algorithm']);
    expect(permit.allowNetworkAccess).toBe(false);
    expect(permit.datasets[0]).toMatchObject({ index: 1, did: datasetDdo().id });
    expect(permit.algorithm).toMatchObject({
      kind: 'published',
      index: 0,
      containerSectionChecksum: CONTAINER_CHECKSUM,
    });
  });

  it('permits an algorithm whose NFT owner is a trusted publisher (any case)', () => {
    const permit = evaluateComputePolicy(
      input(datasetDdo({ publisherTrustedAlgorithmPublishers: [publisher.toLowerCase()] })),
    );
    expect(permit.trust).toEqual(['trusted-publisher']);
  });

  it('passes allowNetworkAccess through', () => {
    const permit = evaluateComputePolicy(
      input(datasetDdo({ publisherTrustedAlgorithms: [trusted], allowNetworkAccess: true })),
    );
    expect(permit.allowNetworkAccess).toBe(true);
  });

  it('grants network access only if every compute service involved allows it', () => {
    const open = datasetDdo({ publisherTrustedAlgorithms: [trusted], allowNetworkAccess: true });
    const closed = datasetDdo({ publisherTrustedAlgorithms: [trusted], allowNetworkAccess: false });
    const permit = evaluateComputePolicy(
      input(open, published(), {
        datasets: [
          { ddo: open, serviceId: 'compute-1' },
          { ddo: closed, serviceId: 'compute-1' },
        ],
      }),
    );
    expect(permit.allowNetworkAccess).toBe(false);
  });

  it('lets an additional dataset be an access service, but the main one must be compute', () => {
    const ddo = datasetDdo({ publisherTrustedAlgorithms: [trusted] });
    const permit = evaluateComputePolicy(
      input(ddo, published(), {
        datasets: [
          { ddo, serviceId: 'compute-1' },
          { ddo, serviceId: 'access-1' },
        ],
      }),
    );
    expect(permit.trust).toEqual(['trusted-algorithm', undefined]);
    expect(
      code(() => evaluateComputePolicy(input(ddo, published(), { datasets: [{ ddo, serviceId: 'access-1' }] }))),
    ).toBe('SERVICE_NOT_COMPUTE');
  });

  it('makes every additional compute service permit the algorithm too', () => {
    const ok = datasetDdo({ publisherTrustedAlgorithms: [trusted] });
    const strict = datasetDdo();
    expect(
      code(() =>
        evaluateComputePolicy(
          input(ok, published(), {
            datasets: [
              { ddo: ok, serviceId: 'compute-1' },
              { ddo: strict, serviceId: 'compute-1' },
            ],
          }),
        ),
      ),
    ).toBe('ALGORITHM_NOT_TRUSTED');
  });

  it('permits raw algorithms only where allowRawAlgorithm is set', () => {
    expect(evaluateComputePolicy(input(datasetDdo({ allowRawAlgorithm: true }), raw)).trust).toEqual(['raw-allowed']);
    expect(code(() => evaluateComputePolicy(input(datasetDdo(), raw)))).toBe('RAW_ALGORITHM_NOT_ALLOWED');
  });

  it.each<[string, () => PolicyInput, string]>([
    [
      'unknown service',
      () => ({ ...input(datasetDdo()), datasets: [{ ddo: datasetDdo(), serviceId: 'nope' }] }),
      'SERVICE_NOT_FOUND',
    ],
    [
      'endpoint of another provider',
      () => input(withEndpoint(datasetDdo({ publisherTrustedAlgorithms: [trusted] }), 'https://other.example')),
      'SERVICE_ENDPOINT_NOT_OURS',
    ],
    ['nothing trusted', () => input(datasetDdo()), 'ALGORITHM_NOT_TRUSTED'],
    [
      'another algorithm trusted',
      () => input(datasetDdo({ publisherTrustedAlgorithms: [{ ...trusted, did: 'did:op:' + '1'.repeat(64) }] })),
      'ALGORITHM_NOT_TRUSTED',
    ],
    [
      'another publisher trusted',
      () => input(datasetDdo({ publisherTrustedAlgorithmPublishers: [consumer] })),
      'ALGORITHM_NOT_TRUSTED',
    ],
    [
      'files changed after trust',
      () => input(datasetDdo({ publisherTrustedAlgorithms: [trusted] }), published({ filesChecksum: 'bb'.repeat(32) })),
      'ALGORITHM_FILES_CHANGED',
    ],
    [
      'container changed after trust',
      () =>
        input(
          datasetDdo({ publisherTrustedAlgorithms: [trusted] }),
          published({ ddo: algorithmDdo({ entrypoint: 'python -u $ALGO' }) }),
        ),
      'ALGORITHM_CONTAINER_CHANGED',
    ],
    [
      'pinned but changed, even with a trusted publisher',
      () =>
        input(
          datasetDdo({ publisherTrustedAlgorithms: [trusted], publisherTrustedAlgorithmPublishers: [publisher] }),
          published({ filesChecksum: '00' }),
        ),
      'ALGORITHM_FILES_CHANGED',
    ],
    [
      'container checksum not a digest',
      () =>
        input(
          datasetDdo({ publisherTrustedAlgorithmPublishers: [publisher] }),
          published({ ddo: algorithmDdo({ checksum: 'latest' }) }),
        ),
      'ALGORITHM_CONTAINER_INVALID',
    ],
    [
      'a dataset posing as algorithm',
      () => input(datasetDdo({ publisherTrustedAlgorithmPublishers: [publisher] }), published({ ddo: datasetDdo() })),
      'ALGORITHM_NOT_ALGORITHM',
    ],
    [
      'unknown algorithm service',
      () => input(datasetDdo({ publisherTrustedAlgorithmPublishers: [publisher] }), published({ serviceId: 'x' })),
      'ALGORITHM_SERVICE_NOT_FOUND',
    ],
    [
      'algorithm served elsewhere',
      () =>
        input(
          datasetDdo({ publisherTrustedAlgorithmPublishers: [publisher] }),
          published({ ddo: withEndpoint(algorithmDdo(), 'https://other.example') }),
        ),
      'ALGORITHM_SERVICE_NOT_USABLE',
    ],
    [
      'raw without code',
      () => input(datasetDdo({ allowRawAlgorithm: true }), { ...raw, rawcode: undefined }),
      'RAW_ALGORITHM_INVALID',
    ],
    [
      'raw with code and url',
      () => input(datasetDdo({ allowRawAlgorithm: true }), { ...raw, url: 'https://a.example/x.py' }),
      'RAW_ALGORITHM_INVALID',
    ],
    [
      'raw with an unpinned image',
      () =>
        input(datasetDdo({ allowRawAlgorithm: true }), {
          ...raw,
          container: { ...raw.container, checksum: 'sha256:abc' },
        }),
      'ALGORITHM_CONTAINER_INVALID',
    ],
    [
      'consumer denied',
      () =>
        input(
          {
            ...datasetDdo({ allowRawAlgorithm: true }),
            credentials: { allow: [], deny: [{ type: 'address', values: [consumer] }] },
          },
          raw,
        ),
      'CONSUMER_NOT_ALLOWED',
    ],
  ])('refuses %s', (_, make, expected) => {
    expect(code(() => evaluateComputePolicy(make()))).toBe(expected);
  });

  it('ignores an empty pinned checksum, as Ocean does', () => {
    const loose = { ...trusted, filesChecksum: '' };
    expect(
      evaluateComputePolicy(
        input(datasetDdo({ publisherTrustedAlgorithms: [loose] }), published({ filesChecksum: 'cc' })),
      ).trust,
    ).toEqual(['trusted-algorithm']);
  });
});

describe('deciding before downloading (filesChecksum not known yet)', () => {
  const undownloaded = published({ filesChecksum: undefined });

  it.each([
    ['nothing trusted', datasetDdo({}), 'ALGORITHM_NOT_TRUSTED', false],
    [
      'another algorithm pinned',
      datasetDdo({ publisherTrustedAlgorithms: [{ ...trusted, did: 'did:op:' + 'ee'.repeat(32) }] }),
      'ALGORITHM_NOT_TRUSTED',
      false,
    ],
    [
      'its container changed',
      datasetDdo({ publisherTrustedAlgorithms: [{ ...trusted, containerSectionChecksum: 'dd'.repeat(32) }] }),
      'ALGORITHM_CONTAINER_CHANGED',
      false,
    ],
    ['pinned with a files checksum', datasetDdo({ publisherTrustedAlgorithms: [trusted] }), 'ALLOWED', true],
    [
      'pinned without a files checksum',
      datasetDdo({ publisherTrustedAlgorithms: [{ ...trusted, filesChecksum: '' }] }),
      'ALLOWED',
      false,
    ],
    ['its publisher trusted', datasetDdo({ publisherTrustedAlgorithmPublishers: [publisher] }), 'ALLOWED', false],
  ] as const)('%s: %s, files needed: %s', (_, dataset, expected, needsFiles) => {
    expect(code(() => evaluateComputePolicy(input(dataset, undownloaded)))).toBe(expected);
    if (expected === 'ALLOWED')
      expect(filesChecksumPinned(evaluateComputePolicy(input(dataset, undownloaded)))).toBe(needsFiles);
  });

  it('needs nothing more once the checksum is known, and then compares it', () => {
    const dataset = datasetDdo({ publisherTrustedAlgorithms: [trusted] });
    expect(filesChecksumPinned(evaluateComputePolicy(input(dataset)))).toBe(false);
    expect(code(() => evaluateComputePolicy(input(dataset, published({ filesChecksum: 'cc'.repeat(32) }))))).toBe(
      'ALGORITHM_FILES_CHANGED',
    );
  });
});

function withEndpoint(ddo: Ddo, endpoint: string): Ddo {
  return { ...ddo, services: ddo.services.map((s) => ({ ...s, serviceEndpoint: endpoint })) };
}

describe('endpoints', () => {
  it('normalises trailing slashes, case of host and default ports', () => {
    expect(normaliseEndpoint('HTTP://Provider.Example:80/')).toBe('http://provider.example');
    expect(isOurEndpoint('http://provider.example:8030//', [PROVIDER_URL])).toBe(true);
    expect(isOurEndpoint('https://provider.example:8030', [PROVIDER_URL])).toBe(false);
    expect(isOurEndpoint('http://provider.example:8030/other', [PROVIDER_URL])).toBe(false);
    expect(isOurEndpoint('not a url', [PROVIDER_URL])).toBe(false);
    expect(isOurEndpoint('http://b.example/', [PROVIDER_URL, 'http://b.example'])).toBe(true);
  });
});

describe('checkCredentials', () => {
  it('applies allow and deny address lists case-insensitively', () => {
    expect(
      code(() =>
        checkCredentials({ allow: [{ type: 'address', values: [consumer.toLowerCase()] }], deny: [] }, consumer, 'x'),
      ),
    ).toBe('ALLOWED');
    expect(
      code(() => checkCredentials({ allow: [{ type: 'address', values: [publisher] }], deny: [] }, consumer, 'x')),
    ).toBe('CONSUMER_NOT_ALLOWED');
    expect(
      code(() => checkCredentials({ allow: [], deny: [{ type: 'address', values: [publisher] }] }, consumer, 'x')),
    ).toBe('ALLOWED');
    expect(code(() => checkCredentials(undefined, consumer, 'x'))).toBe('ALLOWED');
  });
});
