import { execFile } from 'node:child_process';
import { Agent, request } from 'node:http';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { NAMESPACES, type Platform } from '../../devcluster/platform.ts';
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

/** Percentile of `xs` (nearest rank). */
export const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
