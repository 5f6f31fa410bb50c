/**
 * The text each signed endpoint accepts a signature over. A signature is only as narrow as its text: if one
 * endpoint's request can be written so that its text equals another's, a signature seen on one is a key to the
 * other (a result URL for index 1 once deleted a job, read as a delete whose nonce was "1" + the nonce).
 *
 * Every text is the signer's address followed by a tail; the signer must be that address, so two texts that could be
 * confused share it. With the request schemas' field grammars —
 *   J: job id, exactly 32 lower-case hex digits           D: "did:op:" + 64 lower-case hex digits
 *   N: nonce, exactly 14 decimal digits (nonce-policy.ts)  I: result index, 1–6 digits, no leading zero
 *   S: stage, configure | algorithm (9 characters) or publish (7)
 * the tails and their lengths are:
 *   status  N "computeStatus"        27
 *   stop    J                        32 (ocean.js 3.x signs no nonce for stop)
 *   delete  J N                      46
 *   result  J I N                    47–52
 *   logs    J S N                    53 or 55
 *   status  J N "computeStatus"      59
 *   start   D N                      85
 *   delete  J D N                    117
 * No two endpoints share a length, so no text belongs to two endpoints. Within an endpoint the length picks the
 * variant, every field but the result index has a fixed width or a fixed set of values, and the index is what lies
 * between J and the fixed-width N: a text parses one way only, so a signature authorises exactly one request.
 * test/unit/lib/auth/signed-texts.test.ts checks this for every pair of endpoints.
 */

export interface StartText {
  address: string;
  documentId: string;
  nonce: bigint;
}

export interface JobText {
  address: string;
  jobId: string;
}

/** POST /api/services/compute, as ocean.js 3.x computeStart signs it. */
export function startText(r: StartText): string {
  return `${r.address}${r.documentId}${r.nonce}`;
}

/** PUT /api/services/compute, as ocean.js 3.x computeStop signs it: no nonce, so it may never move one. */
export function stopText(r: JobText): string {
  return `${r.address}${r.jobId}`;
}

/** DELETE /api/services/compute, as ocean.js 3.x computeDelete signs it. */
export function deleteText(r: JobText & { documentId: string | undefined; nonce: bigint }): string {
  return `${r.address}${r.jobId}${r.documentId ?? ''}${r.nonce}`;
}

/** GET /api/services/computeResult, as ocean.js 3.x getComputeResultUrl signs it. */
export function resultText(r: JobText & { index: number; nonce: bigint }): string {
  return `${r.address}${r.jobId}${r.index}${r.nonce}`;
}

/** GET /api/services/computeLogs (this provider's own endpoint). */
export function logsText(r: JobText & { stage: string; nonce: bigint }): string {
  return `${r.address}${r.jobId}${r.stage}${r.nonce}`;
}

/** GET /api/services/compute when signed (required with STATUS_REQUIRES_SIGNATURE=true). */
export function statusText(r: { address: string; jobId: string | undefined; nonce: bigint }): string {
  return `${r.address}${r.jobId ?? ''}${r.nonce}computeStatus`;
}
