import type { V1Container, V1Pod } from '@kubernetes/client-node';

/** Reads one key of a ConfigMap or Secret (already base64-decoded), or undefined when absent. */
export type KeyReader = (
  kind: 'configMap' | 'secret',
  name: string,
  key: string | undefined,
) => Promise<Record<string, string> | undefined>;

/** A pod field a container may read through `fieldRef` (the subset kubelets support for env). */
export function podField(pod: V1Pod, fieldPath: string): string | undefined {
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata?.name;
    case 'metadata.namespace':
      return pod.metadata?.namespace;
    case 'metadata.uid':
      return pod.metadata?.uid;
    case 'spec.nodeName':
      return pod.spec?.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName;
    case 'status.podIP':
      return '127.0.0.1';
    case 'status.hostIP':
      return '127.0.0.1';
  }
  const label = /^metadata\.labels\['(.+)'\]$/.exec(fieldPath);
  if (label) return pod.metadata?.labels?.[label[1]!];
  const annotation = /^metadata\.annotations\['(.+)'\]$/.exec(fieldPath);
  if (annotation) return pod.metadata?.annotations?.[annotation[1]!];
  return undefined;
}

/** Expands `$(NAME)` from env the way Kubernetes does for command, args and env values; `$$` escapes. */
export function expandKubeVars(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && name in env ? env[name]! : match;
  });
}

/** The environment of one container: envFrom first, then env in order, as the kubelet builds it. */
export async function containerEnv(
  pod: V1Pod,
  container: V1Container,
  read: KeyReader,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const source = from.configMapRef
      ? { kind: 'configMap' as const, ref: from.configMapRef }
      : from.secretRef
        ? { kind: 'secret' as const, ref: from.secretRef }
        : undefined;
    if (!source) continue;
    const data = await read(source.kind, source.ref.name ?? '', undefined);
    if (!data && !source.ref.optional) throw new Error(`${source.kind} ${source.ref.name} not found`);
    for (const [k, v] of Object.entries(data ?? {})) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = expandKubeVars(e.value, env);
      continue;
    }
    const vf = e.valueFrom;
    if (!vf) {
      env[e.name] = '';
      continue;
    }
    if (vf.fieldRef) {
      env[e.name] = podField(pod, vf.fieldRef.fieldPath) ?? '';
    } else if (vf.configMapKeyRef || vf.secretKeyRef) {
      const kind = vf.configMapKeyRef ? 'configMap' : 'secret';
      const ref = (vf.configMapKeyRef ?? vf.secretKeyRef)!;
      const data = await read(kind, ref.name ?? '', ref.key);
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new Error(`${kind} ${ref.name} has no key ${ref.key}`);
      }
      env[e.name] = value;
    } else if (vf.resourceFieldRef) {
      const res = container.resources?.limits?.[vf.resourceFieldRef.resource.replace(/^limits\./, '')];
      env[e.name] = res ?? '';
    }
  }
  return env;
}
