/**
 * Every route of the API: the Ocean service name ocean.js looks up in `serviceEndpoints`, the function that answers
 * it, and its method and path. `GET /` (info) publishes this table; the gateway mounts it.
 */
export const FUNCTION_NAMES = [
  'info',
  'nonce',
  'start',
  'status',
  'stop',
  'delete',
  'result',
  'logs',
  'environments',
  'initialize',
  'encrypt',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Endpoint {
  service: string;
  fn: FunctionName;
  method: HttpMethod;
  path: string;
}

export const ENDPOINTS: readonly Endpoint[] = [
  { service: 'nonce', fn: 'nonce', method: 'GET', path: '/api/services/nonce' },
  { service: 'computeStart', fn: 'start', method: 'POST', path: '/api/services/compute' },
  { service: 'computeStatus', fn: 'status', method: 'GET', path: '/api/services/compute' },
  { service: 'computeStop', fn: 'stop', method: 'PUT', path: '/api/services/compute' },
  { service: 'computeDelete', fn: 'delete', method: 'DELETE', path: '/api/services/compute' },
  { service: 'computeResult', fn: 'result', method: 'GET', path: '/api/services/computeResult' },
  { service: 'computeLogs', fn: 'logs', method: 'GET', path: '/api/services/computeLogs' },
  { service: 'computeEnvironments', fn: 'environments', method: 'GET', path: '/api/services/computeEnvironments' },
  { service: 'initializeCompute', fn: 'initialize', method: 'POST', path: '/api/services/initializeCompute' },
  { service: 'encrypt', fn: 'encrypt', method: 'POST', path: '/api/services/encrypt' },
];

export const INFO_ENDPOINT: Endpoint = { service: 'info', fn: 'info', method: 'GET', path: '/' };

/** ocean.js's shape: `{ serviceName: [METHOD, path] }`. */
export function serviceEndpoints(): Record<string, [HttpMethod, string]> {
  return Object.fromEntries(ENDPOINTS.map((e) => [e.service, [e.method, e.path]]));
}
