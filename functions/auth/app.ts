import type { Hono } from 'hono';
import { createTokenRequest, invalidateTokenRequest } from '../../lib/api/requests-v2.ts';
import { V2_BASE } from '../../lib/api/endpoints.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { issueToken } from '../../lib/auth/auth-token.ts';
import { commandText, V2_COMMANDS } from '../../lib/auth/command-texts.ts';
import type { NonceStore } from '../../lib/auth/nonce-store.ts';
import { isCommandSignedByAccount, type ContractSigners } from '../../lib/auth/contract-signature.ts';
import type { TokenStore } from '../../lib/auth/token-store.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { badRequest, unauthorized } from '../../lib/http/errors.ts';
import { validJson } from '../../lib/http/validate.ts';

export interface AuthDeps extends BaseDeps {
  /** The v2 nonce counter. */
  nonces: NonceStore;
  tokens: TokenStore;
  /** ERC-1271 contract accounts; absent without a chain to ask. */
  contractSigners?: ContractSigners | undefined;
  now?: () => Date;
}

/**
 * v2 auth tokens (ocean-node's src/components/httpRoutes/auth.ts):
 * POST /v2/api/services/auth/token {address, nonce, signature, validUntil?} → `{ token }`, signed over
 * address + nonce + "createAuthToken"; valid until validUntil (unix ms) or a day, at most 30 days.
 * POST /v2/api/services/auth/token/invalidate {address, nonce, signature, token} → `{ success: true }`, signed over
 * address + nonce (what ocean.js 8.6.2 signs) or address + nonce + "invalidateAuthToken"; only the token's owner
 * may invalidate it.
 */
export function createApp(deps: AuthDeps): Hono {
  const app = createFunctionApp({ name: 'auth', ...deps });
  const now = deps.now ?? (() => new Date());
  app.post(`${V2_BASE}/api/services/auth/token`, validJson(createTokenRequest), async (c) => {
    const body = c.req.valid('json');
    const text = commandText(body.address, body.nonce, V2_COMMANDS.createToken);
    if (!(await isCommandSignedByAccount(body.address, text, body.signature, deps.contractSigners))) {
      throw unauthorized('signature does not match address');
    }
    await deps.nonces.assertFresh(body.address, body.nonce);
    const at = now();
    const issued = issueToken(body.address, at, body.validUntil ?? undefined);
    if (!issued) throw badRequest('validUntil', 'must be in the future');
    await deps.nonces.advance(body.address, body.nonce);
    await deps.tokens.create(body.address, issued, at);
    return c.json({ token: issued.token });
  });
  app.post(`${V2_BASE}/api/services/auth/token/invalidate`, validJson(invalidateTokenRequest), async (c) => {
    const body = c.req.valid('json');
    const signedBy = (command: typeof V2_COMMANDS.invalidateToken | undefined) =>
      isCommandSignedByAccount(
        body.address,
        commandText(body.address, body.nonce, command),
        body.signature,
        deps.contractSigners,
      );
    if (!(await signedBy(undefined)) && !(await signedBy(V2_COMMANDS.invalidateToken))) {
      throw unauthorized('signature does not match address');
    }
    await deps.nonces.advance(body.address, body.nonce);
    await deps.tokens.revoke(body.token, body.address);
    return c.json({ success: true });
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  return createApp({ ...runtime.base('auth'), ...runtime.v2Auth });
}
