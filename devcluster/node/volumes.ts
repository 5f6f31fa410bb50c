import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, isAbsolute } from 'node:path';
import type { V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import { podField } from './container-env.ts';

/** What volume set-up needs from the API server, as the node's identity. */
export interface VolumeSources {
  readData(kind: 'configMap' | 'secret', namespace: string, name: string): Promise<Record<string, string> | undefined>;
  pvcUid(namespace: string, claimName: string): Promise<string | undefined>;
  serviceAccountToken(pod: V1Pod, audience: string | undefined, expirationSeconds: number): Promise<string>;
}

/** A relative path inside a volume; anything absolute or climbing out is refused, as the API server also does. */
function safeRelative(path: string): string {
  const n = normalize(path);
  if (isAbsolute(n) || n.startsWith('..') || n === '.')
    throw new Error(`volume item path ${JSON.stringify(path)} is not a safe relative path`);
  return n;
}

function writeItems(
  dir: string,
  data: Record<string, string>,
  items: V1KeyToPath[] | undefined,
  mode: number,
  optional: boolean,
  what: string,
): void {
  const pairs = items?.length
    ? items.map((i) => [i.key, i.path, i.mode] as const)
    : Object.keys(data).map((k) => [k, k, undefined] as const);
  for (const [key, path, itemMode] of pairs) {
    const value = data[key];
    if (value === undefined) {
      if (optional) continue;
      throw new Error(`${what} has no key ${key}`);
    }
    const file = join(dir, safeRelative(path));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, value);
    chmodSync(file, itemMode ?? mode);
  }
}

/** Host directories of the pod's volumes by name. PVCs live per claim so every pod mounting one shares it. */
export async function prepareVolumes(pod: V1Pod, nodeRoot: string, src: VolumeSources): Promise<Map<string, string>> {
  const ns = pod.metadata!.namespace!;
  const podDir = join(nodeRoot, 'pods', pod.metadata!.uid!, 'volumes');
  const dirs = new Map<string, string>();
  for (const vol of pod.spec?.volumes ?? [])
    dirs.set(vol.name, await prepareVolume(vol, pod, ns, podDir, nodeRoot, src));
  return dirs;
}

async function prepareVolume(
  vol: V1Volume,
  pod: V1Pod,
  ns: string,
  podDir: string,
  nodeRoot: string,
  src: VolumeSources,
): Promise<string> {
  if (vol.persistentVolumeClaim) {
    const claim = vol.persistentVolumeClaim.claimName;
    const uid = await src.pvcUid(ns, claim);
    if (!uid) throw new Error(`persistentvolumeclaim ${claim} not found`);
    const dir = join(nodeRoot, 'pvcs', uid);
    mkdirSync(dir, { recursive: true, mode: 0o777 });
    chmodSync(dir, 0o777);
    return dir;
  }
  const dir = join(podDir, vol.name);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  if (vol.emptyDir) return dir;
  if (vol.configMap || vol.secret) {
    const kind = vol.configMap ? 'configMap' : 'secret';
    const name = vol.configMap?.name ?? vol.secret?.secretName ?? '';
    const optional = Boolean(vol.configMap?.optional ?? vol.secret?.optional);
    const data = await src.readData(kind, ns, name);
    if (!data && !optional) throw new Error(`${kind} ${name} not found`);
    writeItems(
      dir,
      data ?? {},
      (vol.configMap ?? vol.secret)!.items,
      (vol.configMap ?? vol.secret)!.defaultMode ?? 0o644,
      optional,
      `${kind} ${name}`,
    );
    chmodSync(dir, 0o755);
    return dir;
  }
  if (vol.projected) {
    const mode = vol.projected.defaultMode ?? 0o644;
    for (const source of vol.projected.sources ?? []) {
      if (source.serviceAccountToken) {
        const t = source.serviceAccountToken;
        const token = await src.serviceAccountToken(pod, t.audience, t.expirationSeconds ?? 3607);
        writeItems(dir, { token }, [{ key: 'token', path: t.path }], mode, false, 'serviceAccountToken');
      } else if (source.configMap || source.secret) {
        const kind = source.configMap ? 'configMap' : 'secret';
        const ref = (source.configMap ?? source.secret)!;
        const data = await src.readData(kind, ns, ref.name ?? '');
        if (!data && !ref.optional) throw new Error(`${kind} ${ref.name} not found`);
        writeItems(dir, data ?? {}, ref.items, mode, Boolean(ref.optional), `${kind} ${ref.name}`);
      } else if (source.downwardAPI) {
        const data: Record<string, string> = {};
        const items: V1KeyToPath[] = [];
        for (const item of source.downwardAPI.items ?? []) {
          if (!item.fieldRef) continue;
          data[item.path] = podField(pod, item.fieldRef.fieldPath) ?? '';
          items.push({ key: item.path, path: item.path });
        }
        writeItems(dir, data, items, mode, false, 'downwardAPI');
      }
    }
    chmodSync(dir, 0o755);
    return dir;
  }
  if (vol.downwardAPI) {
    for (const item of vol.downwardAPI.items ?? []) {
      if (!item.fieldRef) continue;
      writeItems(
        dir,
        { v: podField(pod, item.fieldRef.fieldPath) ?? '' },
        [{ key: 'v', path: item.path }],
        vol.downwardAPI.defaultMode ?? 0o644,
        false,
        'downwardAPI',
      );
    }
    return dir;
  }
  throw new Error(
    `volume ${vol.name}: only emptyDir, persistentVolumeClaim, configMap, secret, projected and downwardAPI are supported on the local node`,
  );
}
