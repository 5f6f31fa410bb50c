import { join } from 'node:path';
import { DID_PATTERN } from '../../lib/job/workflow.ts';

/**
 * Ocean's layout of a job's `/data` volume, as the algorithm sees it:
 *   inputs/<did>/<n>, inputs/algoCustomData.json, transformations/algorithm, ddos/<did>, outputs/, logs/
 * The root is `/data` in a pod; the pod programs take another one from C2D_DATA_ROOT (tests).
 */
export interface JobLayout {
  root: string;
  inputs: string;
  transformations: string;
  algorithm: string;
  ddos: string;
  outputs: string;
  logs: string;
  algoCustomData: string;
  inputDir(did: string): string;
  inputFile(did: string, index: number): string;
  ddoFile(did: string): string;
  logFile(name: string): string;
}

function safeDid(did: string): string {
  if (!DID_PATTERN.test(did)) throw new Error('not a valid DID');
  return did;
}

export function jobLayout(root: string): JobLayout {
  const inputs = join(root, 'inputs');
  const transformations = join(root, 'transformations');
  const ddos = join(root, 'ddos');
  const logs = join(root, 'logs');
  return {
    root,
    inputs,
    transformations,
    algorithm: join(transformations, 'algorithm'),
    ddos,
    outputs: join(root, 'outputs'),
    logs,
    algoCustomData: join(inputs, 'algoCustomData.json'),
    inputDir: (did) => join(inputs, safeDid(did)),
    inputFile: (did, index) => {
      if (!Number.isInteger(index) || index < 0) throw new Error('file index must be a non-negative integer');
      return join(inputs, safeDid(did), String(index));
    },
    ddoFile: (did) => join(ddos, safeDid(did)),
    logFile: (name) => {
      if (!/^[a-z][a-z0-9-]*\.log$/.test(name)) throw new Error('not a log file name');
      return join(logs, name);
    },
  };
}

export const CONTAINER_LAYOUT = jobLayout('/data');

/** Log files the pod programs write under logs/. */
export const LOG_FILES = { configure: 'configure.log', algorithm: 'algorithm.log', publish: 'publish.log' } as const;
