/**
 * Every route of the API: the Ocean service name ocean.js looks up in `serviceEndpoints`, the function that answers
 * it, and its method and path. `GET /` (info) publishes this table; the gateway mounts it.
 *
 * Two APIs, each under its own base URL: v1 (Ocean Provider, for ocean.js 3.x) at the root, and v2 (ocean-node's
 * compute API, for ocean.js 8.x) under V2_BASE. ocean.js builds every URL as base + advertised path, so a DDO names
 * `<provider>` for v1 clients and `<provider>/v2` for v2 clients, and neither can reach the other's routes by a
 * path of its own table. A v2 route is served by the function of the same concern (its v2 handler beside the v1
 * one), so that one function still owns one concern and one set of permissions.
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
  'auth',
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

/** Where the v2 API lives: every v2 path below is served at V2_BASE + path. */
export const V2_BASE = '/v2';

/** The v2 routes by ocean-node's service names (src/components/httpRoutes/routeUtils.ts), relative to V2_BASE. */
export const V2_ENDPOINTS: readonly Endpoint[] = [
  { service: 'nonce', fn: 'nonce', method: 'GET', path: '/api/services/nonce' },
  { service: 'generateAuthToken', fn: 'auth', method: 'POST', path: '/api/services/auth/token' },
  { service: 'invalidateAuthToken', fn: 'auth', method: 'POST', path: '/api/services/auth/token/invalidate' },
  { service: 'computeEnvironments', fn: 'environments', method: 'GET', path: '/api/services/computeEnvironments' },
  { service: 'initializeCompute', fn: 'initialize', method: 'POST', path: '/api/services/initializeCompute' },
  { service: 'computeStart', fn: 'start', method: 'POST', path: '/api/services/compute' },
  { service: 'freeCompute', fn: 'start', method: 'POST', path: '/api/services/freeCompute' },
  { service: 'computeStatus', fn: 'status', method: 'GET', path: '/api/services/compute' },
  { service: 'computeStop', fn: 'stop', method: 'PUT', path: '/api/services/compute' },
  { service: 'computeResult', fn: 'result', method: 'GET', path: '/api/services/computeResult' },
  { service: 'computeStreamableLogs', fn: 'logs', method: 'GET', path: '/api/services/computeStreamableLogs' },
];

/** GET V2_BASE: ocean-node's root document. */
export const V2_INFO_ENDPOINT: Endpoint = { service: 'info', fn: 'info', method: 'GET', path: '/' };

/** Every route as the gateway and the HTTPRoute mount it: v1 as is, v2 under V2_BASE. */
export function mountedEndpoints(): Endpoint[] {
  return [
    INFO_ENDPOINT,
    ...ENDPOINTS,
    { ...V2_INFO_ENDPOINT, path: V2_BASE },
    ...V2_ENDPOINTS.map((e) => ({ ...e, path: V2_BASE + e.path })),
  ];
}

/** ocean.js's shape: `{ serviceName: [METHOD, path] }`, paths relative to the API's base URL. */
export function serviceEndpoints(endpoints: readonly Endpoint[] = ENDPOINTS): Record<string, [HttpMethod, string]> {
  return Object.fromEntries(endpoints.map((e) => [e.service, [e.method, e.path]]));
}
