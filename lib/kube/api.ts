/**
 * The parts of @kubernetes/client-node the functions use, loaded together on a function's first Kubernetes call
 * (lib/kube/lazy.ts). Named, so that a bundler keeps only these (and what they need) of the library.
 */
export {
  CoordinationV1Api,
  CoreV1Api,
  ListWatch,
  Log,
  PatchStrategy,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
