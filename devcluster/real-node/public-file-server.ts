import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, waitFor, type ManagedProcess } from '../processes.ts';
import type { NodeNamespace } from './node-namespace.ts';

export interface PublicFileServer {
  url(name: string): string;
  stop(): Promise<void>;
}

/**
 * Files on a public address (e.g. one of TEST-NET-3, 203.0.113.0/24) inside the node's namespace, port 80: what a
 * publisher's storage on the Internet is to the cluster. Configure pods may fetch from it and the functions compute
 * an algorithm's file checksums from it, neither needing an exception for internal addresses; the host does not
 * reach it. Python's http.server over a directory of `stateDir`, bound to `address` on the namespace's loopback.
 */
export async function startPublicFileServer(
  ns: NodeNamespace,
  stateDir: string,
  address: string,
  files: Record<string, string>,
): Promise<PublicFileServer> {
  const dir = join(stateDir, `public-files-${address}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  await ns.exec(['ip', 'addr', 'replace', `${address}/32`, 'dev', 'lo']);
  const [cmd, ...args] = ns.enter(['python3', '-m', 'http.server', '--bind', address, '--directory', dir, '80']);
  const server: ManagedProcess = startProcess('public-file-server', cmd!, args, {
    logFile: join(stateDir, 'logs', 'public-file-server.log'),
  });
  await waitFor(
    `the file server on ${address}:80`,
    async () => {
      await ns.exec(['bash', '-c', `exec 3<>/dev/tcp/${address}/80`], 2_000);
      return true;
    },
    30_000,
    100,
  ).catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
  return { url: (name) => `http://${address}/${name}`, stop: () => server.stop() };
}
