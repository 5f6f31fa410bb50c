/** Host paths a sandboxed container sees read-only. /etc is exposed file by file: never shadow, keys or the like. */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32'];
const ETC_FILES = [
  '/etc/alternatives',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/passwd',
  '/etc/group',
  '/etc/nsswitch.conf',
  '/etc/hosts',
  '/etc/resolv.conf',
  '/etc/localtime',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/mime.types',
  '/etc/os-release',
  '/etc/python3',
  '/etc/python3.11',
];

interface SandboxMount {
  hostPath: string;
  mountPath: string;
  readOnly: boolean;
}

export interface SandboxSpec {
  argv: string[];
  env: Record<string, string>;
  mounts: SandboxMount[];
  extraReadOnlyBinds: string[];
  workingDir?: string;
  hostname: string;
  network: boolean;
  uid: number;
  gid: number;
  writableTmp: boolean;
}

/** The bwrap command line for one container. Pure, so the isolation it promises can be unit-tested. */
export function bwrapArgs(spec: SandboxSpec): string[] {
  const args = [
    '--die-with-parent',
    '--new-session',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--unshare-user',
    '--uid',
    String(spec.uid),
    '--gid',
    String(spec.gid),
    '--hostname',
    spec.hostname,
  ];
  if (!spec.network) args.push('--unshare-net');
  for (const dir of SYSTEM_DIRS) args.push('--ro-bind-try', dir, dir);
  for (const file of ETC_FILES) args.push('--ro-bind-try', file, file);
  args.push('--proc', '/proc', '--dev', '/dev');
  if (spec.writableTmp) args.push('--tmpfs', '/tmp');
  for (const m of spec.mounts) args.push(m.readOnly ? '--ro-bind' : '--bind', m.hostPath, m.mountPath);
  // After the pod's volumes: a project checked out under /tmp stays visible through a volume mounted at /tmp.
  for (const dir of spec.extraReadOnlyBinds) args.push('--ro-bind', dir, dir);
  args.push('--chdir', spec.workingDir ?? '/', '--clearenv');
  for (const [k, v] of Object.entries(spec.env)) args.push('--setenv', k, v);
  args.push('--cap-drop', 'ALL', '--');
  return [...args, ...spec.argv];
}
