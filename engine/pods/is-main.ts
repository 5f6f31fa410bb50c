import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Whether this module is the program node was started with (so importing it from tests runs nothing). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && fileURLToPath(moduleUrl) === resolve(entry);
}
