import { pinnedVersions } from '../binaries.ts';
import type { Containerd } from './containerd.ts';

/**
 * The algorithm images the node has (build-images.sh), as a DDO names them: `image:tag`. An environment runs an
 * algorithm by the digest its DDO pins (`image:tag@sha256:…`, engine/pods), so each is also named by its digest here.
 */
export function algorithmImages(): string[] {
  return [`node:${pinnedVersions().NODE_IMAGE_VERSION!.split('.')[0]}`, 'python:3', 'debian:bookworm'];
}

/** The name containerd (and so kubelet) knows an image by: Docker Hub's library images in full. */
export function fullReference(ref: string): string {
  return ref.includes('/') ? ref : `docker.io/library/${ref}`;
}

/** The repository part of a reference (`docker.io/library/node:24` → `docker.io/library/node`). */
export function repository(ref: string): string {
  return ref.replace(/:[^:/]+$/, '');
}

/** The manifest digest of `ref` in a `ctr images ls` listing, or undefined. */
export function digestInListing(listing: string, ref: string): string | undefined {
  const line = listing.split('\n').find((l) => l.startsWith(`${ref} `));
  return /\b(sha256:[0-9a-f]{64})\b/.exec(line ?? '')?.[1];
}

/**
 * Names every algorithm image by its digest too (`repo@sha256:…`), as a pull from a registry leaves it (an image
 * imported from an archive carries only its tag), and returns each image's digest by `image:tag`.
 */
export async function nameAlgorithmImagesByDigest(containerd: Containerd): Promise<Record<string, string>> {
  const listing = await containerd.ctr(['images', 'ls'], 30_000);
  const digests: Record<string, string> = {};
  for (const ref of algorithmImages()) {
    const full = fullReference(ref);
    const digest = digestInListing(listing, full);
    if (!digest) throw new Error(`the node's containerd has no image ${full}`);
    const byDigest = `${repository(full)}@${digest}`;
    if (!listing.split('\n').some((l) => l.startsWith(`${byDigest} `)))
      await containerd.ctr(['images', 'tag', full, byDigest], 30_000);
    digests[ref] = digest;
  }
  return digests;
}
