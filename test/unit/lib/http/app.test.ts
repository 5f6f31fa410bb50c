import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createFunctionApp } from '../../../../lib/http/app.ts';
import { badRequest, HttpError, toHttpError } from '../../../../lib/http/errors.ts';
import { jsonLogger, redact } from '../../../../lib/http/log.ts';
import { silentLogger } from '../../../support/silent-logger.ts';
import { attachmentDisposition, parseRange } from '../../../../lib/http/range.ts';
import { validJson, validQuery } from '../../../../lib/http/validate.ts';
import { AccessDenied, ChainUnavailable } from '../../../../lib/access/errors.ts';

describe('error mapping', () => {
  it('keeps HttpErrors and maps zod errors to 400 with the field', () => {
    expect(toHttpError(badRequest('jobId', 'bad')).body()).toEqual({
      error: 'invalid jobId: bad',
      field: 'jobId',
      reason: 'bad',
    });
    const zerr = z.object({ a: z.object({ b: z.number() }) }).safeParse({ a: { b: 'x' } }).error!;
    expect(toHttpError(zerr)).toMatchObject({ status: 400, field: 'a.b' });
  });

  it('maps access refusals and chain outages by their own status', () => {
    expect(toHttpError(new AccessDenied('ORDER_WRONG_CONSUMER', 'order by someone else'))).toMatchObject({
      status: 403,
    });
    expect(toHttpError(new AccessDenied('DID_MALFORMED', 'bad did', 'documentId'))).toMatchObject({
      status: 400,
      field: 'documentId',
    });
    expect(toHttpError(new ChainUnavailable('RPC down')).status).toBe(503);
  });

  it('maps unreachable dependencies to 503 and everything else to a bare 500', () => {
    expect(toHttpError(new ApiException(503, 'x', undefined, {})).status).toBe(503);
    expect(toHttpError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })).status).toBe(503);
    expect(toHttpError(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })).status).toBe(503);
    const internal = toHttpError(new Error('secret detail'));
    expect(internal.status).toBe(500);
    expect(JSON.stringify(internal.body())).not.toContain('secret detail');
  });
});

describe('function app plumbing', () => {
  const app = createFunctionApp({ name: 'test', logger: silentLogger, maxBodyBytes: 100 });
  const schema = z.object({ n: z.number({ error: 'must be a number' }) });
  app.post('/echo', validJson(schema), (c) => c.json(c.req.valid('json')));
  app.get('/q', validQuery(z.object({ a: z.string() })), (c) => c.json(c.req.valid('query')));
  app.get('/boom', () => {
    throw new Error('internal detail');
  });

  it('parses a JSON body, declared JSON or not', async () => {
    for (const headers of [{}, { 'content-type': 'application/json' }, { 'content-type': 'text/plain' }] as Record<
      string,
      string
    >[]) {
      const res = await app.request('/echo', { method: 'POST', body: '{"n":1}', headers });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ n: 1 });
    }
  });

  it.each([
    ['', 'body', 'a JSON body is required'],
    ['{', 'body', 'not valid JSON'],
    ['{"n":"1"}', 'n', 'must be a number'],
    ['null', 'body', ''],
  ])('refuses body %j with 400 naming %s', async (body, field, reason) => {
    const res = await app.request('/echo', { method: 'POST', body });
    expect(res.status).toBe(400);
    const json = (await res.json()) as { field: string; reason: string };
    expect(json.field).toBe(field);
    expect(json.reason).toContain(reason);
  });

  it('caps the body size', async () => {
    const res = await app.request('/echo', { method: 'POST', body: JSON.stringify({ n: 1, pad: 'x'.repeat(200) }) });
    expect(res.status).toBe(413);
  });

  it('refuses a query parameter given twice', async () => {
    const res = await app.request('/q?a=1&a=2');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'a', reason: 'given more than once' });
    const missing = await app.request('/q');
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ field: 'a' });
    expect(await (await app.request('/q?a=1')).json()).toEqual({ a: '1' });
  });

  it('answers unknown routes with JSON 404 and hides internal errors', async () => {
    const missing = await app.request('/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: expect.stringContaining('/nope') });
    const boom = await app.request('/boom');
    expect(boom.status).toBe(500);
    expect(await boom.text()).not.toContain('internal detail');
  });
});

describe('logging', () => {
  it('redacts signatures, keys and file locations at any depth', () => {
    const out = redact({
      signature: '0xabc',
      body: { nonce: '1', files: [{ url: 'https://secret' }], providerKey: '0x1', headers: { a: 'b' } },
      list: [{ PRIVATEKEY: 'x' }],
    });
    expect(JSON.stringify(out)).not.toMatch(/0xabc|secret|"0x1"|"b"|"x"/);
    expect(out).toMatchObject({ body: { nonce: '1' } });
  });

  it('writes one JSON object per line', () => {
    const lines: string[] = [];
    jsonLogger('c', (l) => lines.push(l)).info('hello', { signature: 's', path: '/x' });
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 'info', component: 'c', msg: 'hello', signature: '[redacted]', path: '/x' });
    expect(lines[0]!.endsWith('\n')).toBe(true);
  });
});

describe('byte ranges and download names', () => {
  it.each([
    [undefined, { kind: 'whole' }],
    ['bytes=0-99', { kind: 'range', header: 'bytes=0-99' }],
    ['bytes=100-', { kind: 'range', header: 'bytes=100-' }],
    ['bytes=-5', { kind: 'range', header: 'bytes=-5' }],
    ['bytes=007-8', { kind: 'range', header: 'bytes=7-8' }],
    ['bytes=5-2', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=0-1,3-4', { kind: 'whole' }],
    ['items=0-1', { kind: 'whole' }],
    ['bytes=-', { kind: 'whole' }],
  ])('Range %j', (header, expected) => {
    expect(parseRange(header)).toEqual(expected);
  });

  it('reduces a result path to a safe file name', () => {
    expect(attachmentDisposition('out/sub/result.csv')).toBe('attachment;filename=result.csv');
    expect(attachmentDisposition('a"b\r\nc.txt')).toBe('attachment;filename=a_b__c.txt');
  });

  it('HttpError carries its status', () => {
    expect(new HttpError(416, 'x').status).toBe(416);
  });
});
