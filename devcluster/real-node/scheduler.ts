import { join } from 'node:path';
import { startProcess, type ManagedProcess } from '../processes.ts';

/** kube-scheduler on the host, serving nothing (secure port 0): it only watches and binds. */
export function startScheduler(binary: string, opts: { kubeconfig: string; logDir: string }): ManagedProcess {
  return startProcess(
    'kube-scheduler',
    binary,
    [`--kubeconfig=${opts.kubeconfig}`, '--leader-elect=false', '--secure-port=0', '--v=1'],
    { logFile: join(opts.logDir, 'kube-scheduler.log') },
  );
}
