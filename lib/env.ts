/**
 * Reading settings from environment variables: the engine, the pod programs and the functions all read theirs here.
 * An empty variable counts as unset. A refused value throws a ConfigurationError naming the variable and the
 * reason, never the value itself (some variables hold secrets).
 */

export class ConfigurationError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`configuration: ${variable} ${reason}`);
    this.name = 'ConfigurationError';
  }
}

export type EnvVars = Readonly<Record<string, string | undefined>>;

export interface IntBounds {
  /** Default 1. */
  min?: number;
  max?: number;
}

function boundsReason({ min = 1, max }: IntBounds): string {
  if (max !== undefined) return `must be an integer from ${min} to ${max}`;
  return min === 1 ? 'must be a positive integer' : `must be an integer of at least ${min}`;
}

export class Env {
  readonly #vars: EnvVars;

  constructor(vars: EnvVars = process.env) {
    this.#vars = vars;
  }

  /** The value, or undefined when the variable is unset or empty. */
  optional(name: string): string | undefined {
    const value = this.#vars[name];
    return value === undefined || value === '' ? undefined : value;
  }

  /** The value; without a fallback, an unset variable is an error. */
  string(name: string, fallback?: string): string {
    const value = this.optional(name) ?? fallback;
    if (value === undefined) throw new ConfigurationError(name, 'is not set');
    return value;
  }

  /** A value that must match `pattern`; `reason` says what it must be ("must be a DNS label"). */
  matching(name: string, pattern: RegExp, reason: string, fallback?: string): string | undefined {
    const value = this.optional(name) ?? fallback;
    if (value !== undefined && !pattern.test(value)) throw new ConfigurationError(name, reason);
    return value;
  }

  /** An http(s) URL, or undefined when unset. */
  url(name: string): string | undefined {
    const value = this.optional(name);
    if (value === undefined) return undefined;
    let protocol: string;
    try {
      protocol = new URL(value).protocol;
    } catch {
      throw new ConfigurationError(name, 'must be a URL');
    }
    if (protocol !== 'http:' && protocol !== 'https:')
      throw new ConfigurationError(name, 'must be an http or https URL');
    return value;
  }

  /** A decimal integer within bounds (by default at least 1), or the fallback when unset. */
  int(name: string, fallback: number, bounds?: IntBounds): number {
    return this.optionalInt(name, bounds) ?? fallback;
  }

  /** A decimal integer within bounds (by default at least 1); unset is an error. */
  requiredInt(name: string, bounds?: IntBounds): number {
    const value = this.optionalInt(name, bounds);
    if (value === undefined) throw new ConfigurationError(name, 'is not set');
    return value;
  }

  optionalInt(name: string, bounds: IntBounds = {}): number | undefined {
    const text = this.optional(name);
    if (text === undefined) return undefined;
    const value = Number(text);
    const { min = 1, max = Number.MAX_SAFE_INTEGER } = bounds;
    if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigurationError(name, boundsReason(bounds));
    }
    return value;
  }

  /** Exactly `true` or `false`, or the fallback when unset. */
  boolean(name: string, fallback: boolean): boolean {
    const text = this.optional(name);
    if (text === undefined) return fallback;
    if (text !== 'true' && text !== 'false') throw new ConfigurationError(name, 'must be true or false');
    return text === 'true';
  }

  /** The value (or the fallback text) through `parse`; whatever `parse` throws becomes the reason. */
  parsed<T>(name: string, parse: (text: string) => T, fallback: string): T {
    const text = this.optional(name) ?? fallback;
    try {
      return parse(text);
    } catch (err) {
      throw new ConfigurationError(name, `is not valid: ${(err as Error).message}`);
    }
  }
}
