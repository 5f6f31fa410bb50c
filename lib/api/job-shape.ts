import { getAddress } from 'ethers/address';
import type { JobConfigMap } from '../job/configmap.ts';
import type { ResultType, Termination } from '../job/status.ts';
import { algorithmDid, primaryDataset } from '../job/workflow.ts';

/** Result types as Ocean's operator-service spells them (ocean.js's `ComputeResultType`, typo included). */
const OCEAN_RESULT_TYPE: Record<ResultType, string> = {
  output: 'output',
  algorithmLog: 'algorithmLog',
  configurationLog: 'configrationLog',
  publishLog: 'publishLog',
};

interface OceanComputeResult {
  filename: string;
  filesize: number;
  type: string;
  index: number;
}

/** ocean.js's `ComputeJob`, plus what this platform adds (environment, stop mark, how the job ended). */
export interface OceanComputeJob {
  owner: string;
  did: string;
  jobId: string;
  dateCreated: string;
  dateFinished: string | null;
  status: number;
  statusText: string;
  /** A bounded summary (the stage logs and the first outputs); every index below `resultsTotal` can be fetched. */
  results: OceanComputeResult[];
  resultsTotal: number;
  inputDID: string[];
  algoDID: string | undefined;
  agreementId: string;
  expireTimestamp: number;
  environment: string;
  stopRequested: boolean;
  termination: Termination | undefined;
}

/** Operator-service dates: unix seconds with fractions, as a string. */
function unixSeconds(iso: string): string {
  return (Date.parse(iso) / 1000).toString();
}

export function toOceanJob(job: JobConfigMap): OceanComputeJob {
  const { workflow, status } = job;
  const created = Date.parse(workflow.dateCreated);
  const expiresAt = status.expiresAt ?? new Date(created + workflow.limits.maxDurationSeconds * 1000).toISOString();
  return {
    owner: getAddress(workflow.owner),
    did: primaryDataset(workflow).did,
    jobId: workflow.jobId,
    dateCreated: unixSeconds(workflow.dateCreated),
    dateFinished: status.dateFinished !== undefined ? unixSeconds(status.dateFinished) : null,
    status: status.code,
    statusText: status.text,
    results: status.results.map((r) => ({
      filename: r.filename,
      filesize: r.filesize,
      type: OCEAN_RESULT_TYPE[r.type],
      index: r.index,
    })),
    resultsTotal: status.resultsTotal ?? status.results.length,
    inputDID: workflow.datasets.map((d) => d.did),
    algoDID: algorithmDid(workflow),
    agreementId: workflow.agreementId,
    expireTimestamp: Math.floor(Date.parse(expiresAt) / 1000),
    environment: workflow.environment,
    stopRequested: status.stopRequested || job.stopRequestedAt !== undefined,
    termination: status.termination,
  };
}
