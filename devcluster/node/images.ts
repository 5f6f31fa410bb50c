import { dirname } from 'node:path';
import { podProgramPath, POD_PROGRAMS } from './pod-programs.ts';

/**
 * How the local node maps a container image to a runtime on this machine. There is no container runtime here:
 * a container is a process under bwrap that sees the host's /usr read-only, so an image stands for the runtime
 * it would have carried. Anything not in this table fails the pod with reason `UnsupportedImage`.
 *
 * | image                          | runs                                       | default entrypoint |
 * |--------------------------------|--------------------------------------------|--------------------|
 * | node:*                         | the project's Node (node_modules/.bin/node) | node              |
 * | python:*                       | the machine's python3 (`python` → python3) | python3            |
 * | busybox:*, alpine:*, debian:*, ubuntu:* | the machine's /bin/sh and coreutils | sh              |
 * | c2d/pod-programs:* (any registry prefix) | this project's pod programs, compiled at node start: command [configure], [publish] or [await-isolation] | – |
 *
 * Both Node rows run the project's own binary (`NodeHost.nodeBinary`), never the machine's, whose release may differ.
 */
export interface ImageRuntime {
  /** The argv to execute inside the sandbox. */
  argv: string[];
  /** Host directories the runtime needs, bound read-only at the same path. */
  extraReadOnlyBinds: string[];
  /** Directories searched before the container's default PATH (a pod that sets PATH itself keeps its own). */
  searchPath: string[];
  /** Whether the runtime needs a private writable /tmp even when the root filesystem is read-only. */
  needsTmp: boolean;
}

export class UnsupportedImage extends Error {
  constructor(
    readonly image: string,
    reason: string,
  ) {
    super(`image ${JSON.stringify(image)} ${reason}`);
  }
}

const isPodProgram = (name: string | undefined): name is (typeof POD_PROGRAMS)[number] =>
  (POD_PROGRAMS as readonly (string | undefined)[]).includes(name);

/** The part of an image reference between the last slash and the tag: `ghcr.io/x/node:24` → `node`. */
export function imageRepository(image: string): { path: string; name: string } {
  const noDigest = image.split('@')[0] ?? '';
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.indexOf(':', lastSlash + 1);
  const path = colon >= 0 ? noDigest.slice(0, colon) : noDigest;
  return { path, name: path.slice(lastSlash + 1) };
}

/** What this node runs images with: the project (for the pod programs) and the real path of the project's Node. */
export interface NodeHost {
  projectRoot: string;
  nodeBinary: string;
}

export function resolveImage(
  image: string,
  command: readonly string[] | undefined,
  args: readonly string[] | undefined,
  host: NodeHost,
): ImageRuntime {
  const { path, name } = imageRepository(image);
  const given = [...(command ?? []), ...(args ?? [])];
  const withDefault = (entry: string): string[] => (command && command.length ? given : [entry, ...(args ?? [])]);

  if (path === 'c2d/pod-programs' || path.endsWith('/c2d/pod-programs')) {
    const [program, ...rest] = given;
    if (!isPodProgram(program)) {
      throw new UnsupportedImage(
        image,
        `needs a pod program as its command (${POD_PROGRAMS.join(' or ')}; got ${JSON.stringify(program ?? null)})`,
      );
    }
    return {
      argv: [host.nodeBinary, podProgramPath(host.projectRoot, program), ...rest],
      extraReadOnlyBinds: [...new Set([host.projectRoot, dirname(host.nodeBinary)])],
      searchPath: [],
      needsTmp: true,
    };
  }
  switch (name) {
    case 'node':
      return {
        argv: withDefault('node'),
        extraReadOnlyBinds: [dirname(host.nodeBinary)],
        searchPath: [dirname(host.nodeBinary)],
        needsTmp: false,
      };
    case 'python': {
      const argv = withDefault('python3');
      if (argv[0] === 'python') argv[0] = 'python3';
      return { argv, extraReadOnlyBinds: [], searchPath: [], needsTmp: false };
    }
    case 'busybox':
    case 'alpine':
    case 'debian':
    case 'ubuntu':
      return { argv: withDefault('sh'), extraReadOnlyBinds: [], searchPath: [], needsTmp: false };
    default:
      throw new UnsupportedImage(
        image,
        'has no local runtime on this node (supported: node:*, python:*, busybox/alpine/debian/ubuntu:*, c2d/pod-programs:*)',
      );
  }
}
