import { readFile } from 'node:fs/promises';
import { ZodError } from 'zod';
import { mkdirSync } from 'node:fs';
import { CONFIGURE_EXIT } from '../../lib/job/exit-codes.ts';
import { parsePrivateHostAllowList } from '../../lib/http/address-policy.ts';
import { parseJobSecretFile } from '../../lib/job/secret.ts';
import { parseWorkflow } from '../../lib/job/workflow.ts';
import { downloadToFile } from './download.ts';
import { Env, type EnvVars } from '../../lib/env.ts';
import { isMain } from './is-main.ts';
import { LOG_FILES, jobLayout } from './layout.ts';
import { ProgramLog } from './program-log.ts';
import { provision } from './provision.ts';

/**
 * The configure pod program. Reads the workflow (mounted from the job ConfigMap) and the job Secret, provisions
 * the job volume, and exits 0, 31 (a dataset failed) or 32 (the algorithm failed). Its log goes to stdout and to
 * logs/configure.log; neither ever contains a file URL or header.
 *
 * Environment: C2D_DATA_ROOT (/data), C2D_SECRET_FILE, C2D_WORKFLOW_FILE, C2D_CONNECT_TIMEOUT_MS,
 * C2D_TOTAL_TIMEOUT_MS, C2D_MAX_FILE_BYTES, C2D_MAX_TOTAL_BYTES, C2D_PRIVATE_HOSTS_ALLOWED (internal addresses
 * files may come from; lib/http/address-policy.ts).
 */
export async function runConfigure(vars: EnvVars): Promise<number> {
  const env = new Env(vars);
  const layout = jobLayout(env.string('C2D_DATA_ROOT', '/data'));
  mkdirSync(layout.logs, { recursive: true });
  const log = new ProgramLog(layout.logFile(LOG_FILES.configure));
  log.info('configure: provisioning the job volume');

  let workflow;
  let secret;
  try {
    workflow = parseWorkflow(
      JSON.parse(await readFile(env.string('C2D_WORKFLOW_FILE', '/workflow/workflow.json'), 'utf8')),
    );
    secret = parseJobSecretFile(await readFile(env.string('C2D_SECRET_FILE', '/secrets/job/job.json'), 'utf8'));
  } catch (err) {
    // Zod issues name fields and expected types, never the values; file errors name our own mount paths.
    const detail =
      err instanceof ZodError
        ? err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
        : (err as Error).name;
    log.info(`data provisioning failed: job configuration unreadable: ${detail}`);
    return CONFIGURE_EXIT.dataFailed;
  }

  const limits = {
    connectTimeoutMs: env.int('C2D_CONNECT_TIMEOUT_MS', 10_000),
    totalTimeoutMs: env.int('C2D_TOTAL_TIMEOUT_MS', 600_000),
    maxFileBytes: env.int('C2D_MAX_FILE_BYTES', 1024 ** 3),
    maxTotalBytes: env.int('C2D_MAX_TOTAL_BYTES', workflow.limits.diskMiB * 1024 * 1024),
    privateHosts: env.parsed('C2D_PRIVATE_HOSTS_ALLOWED', parsePrivateHostAllowList, ''),
  };
  try {
    const result = await provision(workflow, secret, layout, limits, downloadToFile, log);
    if (result.ok) return 0;
    return result.part === 'data' ? CONFIGURE_EXIT.dataFailed : CONFIGURE_EXIT.algorithmFailed;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    log.info(
      `data provisioning failed: ${code === 'ENOSPC' || code === 'EDQUOT' ? 'the job volume is full' : `unexpected ${code ?? (err as Error).name}`}`,
    );
    return CONFIGURE_EXIT.dataFailed;
  }
}

if (isMain(import.meta.url)) {
  process.exitCode = await runConfigure(process.env);
}
