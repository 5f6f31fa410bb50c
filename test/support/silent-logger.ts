import type { Logger } from '../../lib/http/log.ts';

/** A Logger that drops everything, for tests whose subject logs. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
