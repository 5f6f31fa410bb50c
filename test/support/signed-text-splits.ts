/**
 * Every way a signed text can be read as another endpoint's request: the tail after the signer's address is cut into
 * that endpoint's fields, in order, each cut kept only if the field's rule accepts it. With the provider's own field
 * schemas as rules this is the provider's reading; with looser rules it is what an attacker would try.
 */

export const SIGNED_ENDPOINTS = ['start', 'stop', 'delete', 'result', 'logs', 'status'] as const;
export type SignedEndpoint = (typeof SIGNED_ENDPOINTS)[number];

export type FieldName = 'documentId' | 'jobId' | 'nonce' | 'index' | 'stage';
export type FieldRules = Record<FieldName, (value: string) => boolean>;

type Part = { field: FieldName; optional?: boolean } | { literal: string };

/** The fields of each endpoint's text, in the order signed-texts.ts writes them. */
export const LAYOUTS: Record<SignedEndpoint, Part[][]> = {
  start: [[{ field: 'documentId' }, { field: 'nonce' }]],
  stop: [[{ field: 'jobId' }]],
  delete: [[{ field: 'jobId' }, { field: 'documentId', optional: true }, { field: 'nonce' }]],
  result: [[{ field: 'jobId' }, { field: 'index' }, { field: 'nonce' }]],
  logs: [[{ field: 'jobId' }, { field: 'stage' }, { field: 'nonce' }]],
  status: [[{ field: 'jobId', optional: true }, { field: 'nonce' }, { literal: 'computeStatus' }]],
};

/**
 * Today's layouts and those the provider accepted before signatures were bound to their endpoint (stop also with the
 * nonce, status without the trailing command name): every reading an attacker would try.
 */
export const ATTACK_LAYOUTS: Record<SignedEndpoint, Part[][]> = {
  ...LAYOUTS,
  stop: [...LAYOUTS.stop, [{ field: 'jobId' }, { field: 'nonce' }]],
  status: [...LAYOUTS.status, [{ field: 'jobId', optional: true }, { field: 'nonce' }]],
};

export type Reading = Partial<Record<FieldName, string>>;

function readParts(rest: string, parts: readonly Part[], rules: FieldRules, acc: Reading, out: Reading[]): void {
  const [part, ...more] = parts;
  if (part === undefined) {
    if (rest === '') out.push({ ...acc });
    return;
  }
  if ('literal' in part) {
    if (rest.startsWith(part.literal)) readParts(rest.slice(part.literal.length), more, rules, acc, out);
    return;
  }
  if (part.optional) readParts(rest, more, rules, acc, out);
  for (let end = 1; end <= rest.length; end++) {
    const value = rest.slice(0, end);
    if (rules[part.field](value)) readParts(rest.slice(end), more, rules, { ...acc, [part.field]: value }, out);
  }
}

/** Every reading of `tail` as a request of `endpoint` under `layouts`. */
export function readingsOf(tail: string, endpoint: SignedEndpoint, rules: FieldRules, layouts = LAYOUTS): Reading[] {
  const out: Reading[] = [];
  for (const parts of layouts[endpoint]) readParts(tail, parts, rules, {}, out);
  return out;
}

/** The field grammar the provider accepted before (nonces of 1–15 digits, indexes with leading zeros), a superset of today's. */
export const ATTACK_RULES: FieldRules = {
  documentId: (v) => /^did:op:[0-9a-f]{64}$/.test(v),
  jobId: (v) => /^[0-9a-f]{32}$/.test(v),
  nonce: (v) => /^\d{1,15}$/.test(v),
  index: (v) => /^\d{1,6}$/.test(v),
  stage: (v) => ['configure', 'algorithm', 'publish'].includes(v),
};
