/**
 * One JSON object per line on stdout/stderr, the shape log collectors parse. Values under keys that may carry
 * secrets (signatures, keys, decrypted file locations, headers) are replaced before anything is written.
 */
type LogFields = Record<string, unknown>;

const SECRET_KEY =
  /signature|secret|password|token|authorization|cookie|privatekey|^key$|_key$|Key$|^files$|^headers$/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[depth]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
    return out;
  }
  return value;
}

/**
 * An error's message followed by those of its causes: client-node 2 (undici's fetch) fails a request that could not
 * connect with "fetch failed", and only its cause says why ("connect ECONNREFUSED 127.0.0.1:6443").
 */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
    if (typeof e !== 'object' || e === null) break;
  }
  return parts.join(': ');
}

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export function jsonLogger(component: string, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const emit = (level: string, msg: string, fields?: LogFields) =>
    write(
      JSON.stringify({
        time: new Date().toISOString(),
        level,
        component,
        msg,
        ...(redact(fields ?? {}) as LogFields),
      }) + '\n',
    );
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

/** For tests and benchmarks that must not print. */
