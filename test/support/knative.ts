import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { NAMESPACES, type Platform } from '../../devcluster/platform.ts';
import { startProcess, waitFor, type ManagedProcess } from '../../devcluster/processes.ts';
import type { Endpoint } from '../../lib/api/endpoints.ts';

/** Runs the platform's kn against it; resolves with the exit code and everything kn printed. */
export function kn(platform: Platform, args: string[], timeoutMs = 240_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      platform.env.kn,
      ['--kubeconfig', platform.env.kubeconfig, ...args],
      { timeout: timeoutMs },
      (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }),
    );
  });
}

export interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** One request to `base + path`, timed; rejects on a connection error or after 30 s without an answer. */
export function send(
  base: string,
  path: string,
  opts: { method?: string; body?: string; agent?: Agent } = {},
): Promise<Answer> {
  const url = new URL(path, base);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: opts.agent,
        timeout: 30_000,
        headers: opts.body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 30 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * A request each endpoint answers without a signature or a job: the function's own answer (a 200, or a 400 naming
 * what is missing), never the ingress's (Traefik's 404 for an unmatched route, 5xx from the activator).
 */
export function probe(base: string, e: Endpoint, agent?: Agent): Promise<Answer> {
  const query: Partial<Record<string, string>> = {
    '/api/services/nonce': '?userAddress=0x000000000000000000000000000000000000dEaD',
    '/v2/api/services/nonce': '?userAddress=0x000000000000000000000000000000000000dEaD',
  };
  const hasBody = e.method === 'POST' || e.method === 'PUT';
  return send(base, e.path + (e.method === 'GET' ? (query[e.path] ?? '') : ''), {
    method: e.method,
    agent,
    ...(hasBody ? { body: '{}' } : {}),
  });
}

/** An answer that came from the function: not the ingress's route-not-found, not a gateway or activator failure. */
export const fromFunction = (a: Answer): boolean =>
  a.status < 500 && !(a.status === 404 && /page not found/.test(a.body));

/**
 * The pods of a function's revisions, terminating ones included (a draining queue-proxy still answers); with `ready`,
 * only those whose containers are all ready (a pod the scheduler has no room for yet is not serving).
 */
export async function functionPods(admin: KubeConfig, fn: string, opts: { ready?: boolean } = {}): Promise<number> {
  const pods = await admin.makeApiClient(CoreV1Api).listNamespacedPod({
    namespace: NAMESPACES.system,
    labelSelector: `serving.knative.dev/service=c2d-${fn}`,
  });
  const ready = (p: (typeof pods.items)[number]): boolean =>
    Boolean(p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  return opts.ready ? pods.items.filter(ready).length : pods.items.length;
}

/**
 * The manifest digest of an image the node has, named by it as well (`repo@sha256:…`), as a pull from a registry
 * leaves it: the engine runs an algorithm's image by the digest its DDO pins (`image:tag@checksum`), and an image
 * imported from an archive carries only its tag.
 */
export async function nodeImageDigest(platform: Platform, ref: string): Promise<string> {
  const ns = platform.realNode!.namespace;
  const ctr = (args: string[]): Promise<string> => ns.exec(['ctr', '-n', 'k8s.io', ...args], 30_000);
  const line = (await ctr(['images', 'ls', `name==${ref}`])).split('\n').find((l) => l.startsWith(`${ref} `));
  const digest = /\b(sha256:[0-9a-f]{64})\b/.exec(line ?? '')?.[1];
  if (!digest) throw new Error(`the node has no image ${ref}`);
  const repo = ref.replace(/:[^:/]+$/, '');
  const named = await ctr(['images', 'ls', '-q', `name==${repo}@${digest}`]);
  if (!named.trim()) await ctr(['images', 'tag', ref, `${repo}@${digest}`]);
  return digest;
}

export interface KnativeService {
  metadata: { name: string; generation: number; labels?: Record<string, string> };
  spec: {
    template: {
      metadata: { annotations?: Record<string, string> };
      spec: { serviceAccountName: string };
    };
  };
  status: {
    url?: string;
    latestReadyRevisionName?: string;
    latestCreatedRevisionName?: string;
    traffic?: { revisionName: string; percent: number; latestRevision?: boolean }[];
    conditions?: { type: string; status: string }[];
  };
}

export async function readFunctionService(admin: KubeConfig, fn: string): Promise<KnativeService> {
  return (await admin.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
    group: 'serving.knative.dev',
    version: 'v1',
    namespace: NAMESPACES.system,
    plural: 'services',
    name: `c2d-${fn}`,
  })) as KnativeService;
}

/**
 * Files on a public address of the node's namespace, port 80 (what configure pods may fetch, and the functions'
 * algorithm checksums): python's http.server over `dir`, bound to `address` on the namespace's loopback.
 */
export async function startPublicFileServer(
  platform: Platform,
  address: string,
  files: Record<string, string>,
): Promise<{ url: (name: string) => string; stop(): Promise<void> }> {
  const ns = platform.realNode!.namespace;
  const dir = join(platform.env.stateDir, `public-files-${address}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  await ns.exec(['ip', 'addr', 'add', `${address}/32`, 'dev', 'lo']);
  const [cmd, ...args] = ns.enter(['python3', '-m', 'http.server', '--bind', address, '--directory', dir, '80']);
  const server: ManagedProcess = startProcess('public-file-server', cmd!, args, {
    logFile: join(platform.env.stateDir, 'logs', 'public-file-server.log'),
  });
  await waitFor(
    `the file server on ${address}:80`,
    async () => {
      await ns.exec(['bash', '-c', `exec 3<>/dev/tcp/${address}/80`], 2_000);
      return true;
    },
    30_000,
    100,
  );
  return { url: (name) => `http://${address}/${name}`, stop: () => server.stop() };
}

/** Percentile of `xs` (nearest rank). */
export const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
