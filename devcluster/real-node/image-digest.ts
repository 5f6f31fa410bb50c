import { digestInListing } from './algorithm-images.ts';
import type { NodeNamespace } from './node-namespace.ts';

const ctr = (ns: NodeNamespace, args: string[]): Promise<string> => ns.exec(['ctr', '-n', 'k8s.io', ...args], 30_000);

/** The manifest digest of an image the node's containerd has under `ref`. */
async function manifestDigest(ns: NodeNamespace, ref: string): Promise<string> {
  const digest = digestInListing(await ctr(ns, ['images', 'ls', `name==${ref}`]), ref);
  if (!digest) throw new Error(`the node has no image ${ref}`);
  return digest;
}

/**
 * The ID under which the node's containerd runs an image (its config's digest: what kubelet reports as a container's
 * `imageID` for an image that has no registry digest), and the entrypoint that config gives.
 */
export async function nodeImageId(ns: NodeNamespace, ref: string): Promise<{ id: string; entrypoint: string[] }> {
  const digest = await manifestDigest(ns, ref);
  const manifest = JSON.parse(await ctr(ns, ['content', 'get', digest])) as { config?: { digest?: string } };
  const id = manifest.config?.digest;
  if (!id) throw new Error(`the manifest of ${ref} (${digest}) names no config: not a single-platform image`);
  const config = JSON.parse(await ctr(ns, ['content', 'get', id])) as { config?: { Entrypoint?: string[] } };
  return { id, entrypoint: config.config?.Entrypoint ?? [] };
}
