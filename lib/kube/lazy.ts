import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

/** The parts of @kubernetes/client-node a caller needs once connected (Log, Watch, ListWatch, …): lib/kube/api.ts. */
export type ClientNode = typeof import('./api.ts');

export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
  k8s: ClientNode;
}

/**
 * A connection to the Kubernetes API made on first use. Loading @kubernetes/client-node costs more start-up time
 * and memory than everything else a function loads together (its entry module pulls in every API group and model),
 * so a function pays for it on its first request that talks to Kubernetes, and a function that never does never
 * pays. A failure (unreadable kubeconfig) is not kept: the next call tries again.
 */
export function lazyKube(kubeconfigPath: string | undefined): () => Promise<Kube> {
  let kube: Promise<Kube> | undefined;
  return () => {
    kube ??= (async () => {
      const [k8s, { loadKubeConfig }] = await Promise.all([import('./api.ts'), import('./client.ts')]);
      const kc = loadKubeConfig(kubeconfigPath);
      return { kc, core: kc.makeApiClient(k8s.CoreV1Api), k8s };
    })();
    kube.catch(() => {
      kube = undefined;
    });
    return kube;
  };
}

/**
 * An object standing for `T` before `T` exists: each method call waits for `load()` and is then made on the real
 * object. Only for clients whose members are all async methods (CoreV1Api), so callers cannot tell the difference;
 * it is never thenable, so awaiting it does not trigger the load.
 */
export function deferred<T extends object>(load: () => Promise<T>): T {
  const methods = new Map<PropertyKey, (...args: unknown[]) => Promise<unknown>>();
  return new Proxy({} as T, {
    get(_target, prop) {
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      let method = methods.get(prop);
      if (!method) {
        method = async (...args: unknown[]) => {
          const real = (await load()) as Record<string, unknown>;
          const fn = real[prop];
          if (typeof fn !== 'function') throw new TypeError(`${prop} is not a method`);
          return (fn as (...a: unknown[]) => unknown).apply(real, args);
        };
        methods.set(prop, method);
      }
      return method;
    },
  });
}
