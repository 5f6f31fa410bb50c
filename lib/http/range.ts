/**
 * A single byte range from a `Range` header, normalised for the object store (`bytes=a-b`, `bytes=a-`, `bytes=-n`).
 * Anything else (absent, another unit, several ranges, unparsable) means the whole object, as RFC 9110 allows;
 * a range whose start lies after its end is unsatisfiable.
 */
export type RangeRequest = { kind: 'whole' } | { kind: 'range'; header: string } | { kind: 'unsatisfiable' };

export function parseRange(header: string | undefined): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m) return { kind: 'whole' };
  const [, start = '', end = ''] = m;
  if (start === '' && end === '') return { kind: 'whole' };
  if (start === '')
    return Number(end) === 0 ? { kind: 'unsatisfiable' } : { kind: 'range', header: `bytes=-${Number(end)}` };
  if (end !== '' && Number(end) < Number(start)) return { kind: 'unsatisfiable' };
  return { kind: 'range', header: `bytes=${Number(start)}-${end === '' ? '' : Number(end)}` };
}

/** `attachment;filename=…` as ocean.js's downloadFile parses it, with the name reduced to safe characters. */
export function attachmentDisposition(path: string): string {
  const base = path.split('/').pop() ?? 'result';
  const safe = base.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200) || 'result';
  return `attachment;filename=${safe}`;
}
