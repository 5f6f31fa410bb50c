import { readFileSync, writeFileSync } from 'node:fs';
import type { CertFiles } from './certs.ts';

const b64 = (path: string): string => readFileSync(path).toString('base64');

/** Writes a kubeconfig (JSON is valid YAML) that authenticates with a client certificate, or with a bearer token. */
export function writeKubeconfig(
  path: string,
  opts: { server: string; caFile: string; user: string; client?: CertFiles; token?: string; namespace?: string },
): void {
  const user: Record<string, string> = {};
  if (opts.client) {
    user['client-certificate-data'] = b64(opts.client.cert);
    user['client-key-data'] = b64(opts.client.key);
  }
  if (opts.token) user.token = opts.token;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c2d-dev', cluster: { server: opts.server, 'certificate-authority-data': b64(opts.caFile) } }],
    users: [{ name: opts.user, user }],
    contexts: [
      { name: opts.user, context: { cluster: 'c2d-dev', user: opts.user, namespace: opts.namespace ?? 'default' } },
    ],
    'current-context': opts.user,
  };
  writeFileSync(path, JSON.stringify(config, null, 2), { mode: 0o600 });
}
