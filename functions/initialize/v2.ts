import type { Hono } from 'hono';
import type { InitializeResult } from '../../lib/access/initialize.ts';
import type { InitializeInput } from '../../lib/access/quote-initialize.ts';
import { V2_BASE } from '../../lib/api/endpoints.ts';
import { requireEnvironment, type EnvironmentSource } from '../../lib/api/environments.ts';
import { ESCROW_NOT_CONFIGURED, type EscrowPayments, type PaymentBlock } from '../../lib/api/job-payment.ts';
import { resolveDuration, resolveJobSize, resourceAmounts, type Tier } from '../../lib/api/job-terms-v2.ts';
import { OUTPUT_NOT_CONFIGURED, v2InitializeRequest, type V2InitializeRequest } from '../../lib/api/requests-v2.ts';
import { badRequest } from '../../lib/http/errors.ts';
import { validJson } from '../../lib/http/validate.ts';
import type { Environment } from '../../lib/job/environments.ts';

/** How long after initializeCompute the orders' provider fees stay valid beyond the job itself: time to order. */
export const ORDER_MARGIN_SECONDS = 600;

export interface InitializeV2Deps {
  chainId: number;
  environments: EnvironmentSource;
  /** v1's quote (lib/access/quote-initialize.ts): the same checks as start, and per asset what to order. */
  quote(input: Omit<InitializeInput, 'now'>): Promise<InitializeResult>;
  escrow: EscrowPayments | undefined;
  /** Whether the provider has an output key (OUTPUT_PUBLIC_KEY): without one, start refuses `output`, so this does. */
  outputTargets: boolean;
  now?: () => Date;
}

/** Whether the environment prices jobs in `token` on `chainId` (its escrowFees). */
function priced(env: Environment, chainId: number, token: string): boolean {
  return (env.escrowFees?.[String(chainId)] ?? []).some((f) => f.feeToken === token.toLowerCase());
}

/**
 * A paid job where the environment prices the payment token; else the free tier, where it has one (no `payment`
 * block then: nothing is locked); else 400 naming the token.
 */
function tierOf(env: Environment, body: V2InitializeRequest, escrow: EscrowPayments | undefined): Tier {
  if (priced(env, body.payment.chainId, body.payment.token)) {
    if (!escrow) throw badRequest('payment', ESCROW_NOT_CONFIGURED);
    return 'paid';
  }
  if (env.free) return 'free';
  throw badRequest(
    'payment.token',
    `environment ${env.id} does not accept payments on chain ${body.payment.chainId} in token ${body.payment.token}`,
  );
}

/**
 * POST /v2/api/services/initializeCompute (ocean-node's src/components/core/compute/initialize.ts) {datasets,
 * algorithm, environment, payment: {chainId, token, resources}, maxJobDuration, consumerAddress} →
 * `{ algorithm, datasets, payment? }`: the job checked exactly as start will check it, per asset the datatoken and
 * a provider fee at 0 (v2 pays the environment through the escrow, not the order) or the order already held, and for
 * a paid job the escrow payment to authorize. Unsigned, as in ocean-node: it changes nothing.
 */
export function registerV2(app: Hono, deps: InitializeV2Deps): void {
  app.post(`${V2_BASE}/api/services/initializeCompute`, validJson(v2InitializeRequest), async (c) => {
    const body = c.req.valid('json');
    if (body.output !== undefined && !deps.outputTargets) throw badRequest('output', OUTPUT_NOT_CONFIGURED);
    if (body.payment.chainId !== deps.chainId) {
      throw badRequest('payment.chainId', `this provider serves chain ${deps.chainId} only`);
    }
    const environment = await requireEnvironment(deps.environments, body.environment, 'environment');
    const tier = tierOf(environment, body, deps.escrow);
    const size = resolveJobSize(environment, body.payment.resources, tier);
    const durationSeconds = resolveDuration(environment, body.maxJobDuration, tier);
    const now = Math.floor((deps.now ?? (() => new Date()))().getTime() / 1000);
    const quoted = await deps.quote({
      consumer: body.consumerAddress,
      datasets: body.datasets,
      algorithm: body.algorithm,
      environment: { ...environment, fees: [] },
      validUntil: now + durationSeconds + ORDER_MARGIN_SECONDS,
    });
    let payment: PaymentBlock | undefined;
    if (tier === 'paid') {
      const quote = await deps.escrow!.quote({
        environment,
        chainId: body.payment.chainId,
        token: body.payment.token,
        resources: resourceAmounts(size),
        maxJobDurationSeconds: durationSeconds,
        payee: environment.consumerAddress,
      });
      payment = quote.payment;
    }
    const item = (
      ref: { documentId?: string | undefined; serviceId?: string | undefined },
      r: InitializeResult['datasets'][number] | undefined,
    ) => ({
      validOrder: r?.validOrder ?? false,
      ...(ref.documentId !== undefined && { did: ref.documentId, serviceId: ref.serviceId }),
      chainId: deps.chainId,
      consumerAddress: environment.consumerAddress,
      ...(r?.datatoken !== undefined && { datatoken: r.datatoken }),
      ...(r?.providerFee !== undefined && { providerFee: r.providerFee }),
    });
    return c.json({
      algorithm: item(body.algorithm, quoted.algorithm),
      datasets: body.datasets.map((d, i) => item(d, quoted.datasets[i])),
      ...(payment && { payment }),
    });
  });
}
