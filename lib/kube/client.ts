import { KubeConfig } from '@kubernetes/client-node';

/**
 * The Kubernetes identity this process acts as: the file named by KUBECONFIG when set (local runs, tests),
 * otherwise the pod's own ServiceAccount (in a cluster).
 */
export function loadKubeConfig(kubeconfigPath = process.env.KUBECONFIG): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromCluster();
  return kc;
}
