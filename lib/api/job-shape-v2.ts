import { getAddress } from 'ethers/address';
import type { JobConfigMap } from '../job/configmap.ts';
import type { ResultType } from '../job/status.ts';
import { algorithmDid, primaryDataset } from '../job/workflow.ts';
import { StatusCode } from '../job/status.ts';

/**
 * A job as ocean-node's v2 API shows it (src/@types/C2D/C2D.ts ComputeJob and C2DStatusNumber/C2DStatusText).
 * The engine keeps its own codes (lib/job/status.ts); they map onto ocean-node's one way: the stages line up, a
 * queued job is 1, a job out of the queue is 0 until its volume is being configured, and a job stopped (this
 * platform's 71), timed out (72) or ended by the infrastructure (73, which ocean-node has no code for) is finished,
 * 70, as ocean-node ends the first two — with how it ended in `terminationDetails`. ocean-node's 71 is "settling": a
 * paid job that would be 70 while its escrow lock is being claimed (compute_engine_docker.ts moves PublishingResults
 * to JobSettle, and claimPayments to JobFinished); a paid job that failed keeps its failure code while its lock is
 * settled, as in ocean-node.
 */

export const V2_STATUS_TEXT = {
  0: 'Job started',
  1: 'Job queued',
  20: 'Configuring volumes',
  30: 'Provisioning data',
  31: 'Data provisioning failed',
  32: 'Algorithm provisioning failed',
  40: 'Running algorithm ',
  41: 'Failed to run algorithm',
  42: 'Error: disk quota exceeded',
  60: 'Publishing results',
  62: 'Failed to upload results to storage',
  70: 'Job finished',
  71: 'Job settling',
} as const;
export type V2StatusCode = keyof typeof V2_STATUS_TEXT;

const TO_V2: Record<StatusCode, V2StatusCode> = {
  [StatusCode.WarmingUp]: 1,
  [StatusCode.JobStarted]: 0,
  [StatusCode.ConfiguringVolumes]: 20,
  [StatusCode.ProvisioningSuccess]: 30,
  [StatusCode.DataProvisioningFailed]: 31,
  [StatusCode.AlgorithmProvisioningFailed]: 32,
  [StatusCode.RunningAlgorithm]: 40,
  [StatusCode.AlgorithmFailed]: 41,
  [StatusCode.DiskQuotaExceeded]: 42,
  [StatusCode.PublishingResults]: 60,
  [StatusCode.ResultsUploadFailed]: 62,
  [StatusCode.JobFinished]: 70,
  [StatusCode.JobStopped]: 70,
  [StatusCode.JobTimedOut]: 70,
  [StatusCode.InfrastructureFailed]: 70,
};

export function toV2Status(code: StatusCode, settling = false): { status: V2StatusCode; statusText: string } {
  const mapped = TO_V2[code];
  const status = mapped === 70 && settling ? 71 : mapped;
  return { status, statusText: V2_STATUS_TEXT[status] };
}

/** ocean-node's ComputeResultType names. */
const V2_RESULT_TYPE: Record<ResultType, string> = {
  output: 'output',
  algorithmLog: 'algorithmLog',
  configurationLog: 'configurationLog',
  publishLog: 'publishLog',
};

function unixSeconds(iso: string): string {
  return (Date.parse(iso) / 1000).toString();
}

export function toV2Job(job: JobConfigMap) {
  const { workflow, status } = job;
  const termination = status.termination;
  return {
    owner: getAddress(workflow.owner),
    did: primaryDataset(workflow).did,
    jobId: workflow.jobId,
    dateCreated: unixSeconds(workflow.dateCreated),
    dateFinished: status.dateFinished !== undefined ? unixSeconds(status.dateFinished) : '',
    ...toV2Status(status.code, job.settling),
    results: status.results.map((r) => ({
      filename: r.filename,
      filesize: r.filesize,
      type: V2_RESULT_TYPE[r.type],
      index: r.index,
    })),
    resultsTotal: status.resultsTotal ?? status.results.length,
    inputDID: workflow.datasets.map((d) => d.did),
    algoDID: algorithmDid(workflow),
    maxJobDuration: workflow.limits.maxDurationSeconds,
    agreementId: workflow.agreementId,
    environment: workflow.environment,
    metadata: workflow.metadata ?? {},
    additionalViewers: (workflow.viewers ?? []).map((v) => getAddress(v)),
    isFree: workflow.billing === 'free',
    queueMaxWaitTime: 0,
    stopRequested: status.stopRequested || job.stopRequestedAt !== undefined,
    ...(termination && {
      terminationDetails: {
        OOMKilled: termination.stage !== undefined && status.stages[termination.stage]?.reason === 'OOMKilled',
        exitCode: termination.exitCode ?? null,
        reason: termination.reason,
        ...(termination.message !== undefined && { message: termination.message }),
      },
    }),
  };
}
export type V2Job = ReturnType<typeof toV2Job>;
