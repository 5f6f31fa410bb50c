import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** Where each container's output goes, and whether it may still grow: what the log endpoint serves. */
export interface ContainerLog {
  file: string;
  running: boolean;
}

export class ContainerLogRegistry {
  private readonly logs = new Map<string, ContainerLog>();
  constructor(private readonly root: string) {}

  private key(ns: string, pod: string, container: string): string {
    return `${ns}/${pod}/${container}`;
  }

  /** A fresh log file for a container of a pod incarnation (pods are recreated under the same name). */
  open(ns: string, pod: string, uid: string, container: string, restart: number): ContainerLog {
    const dir = join(this.root, `${ns}_${pod}_${uid}`);
    mkdirSync(dir, { recursive: true });
    const entry = { file: join(dir, `${container}.${restart}.log`), running: true };
    this.logs.set(this.key(ns, pod, container), entry);
    return entry;
  }

  get(ns: string, pod: string, container: string): ContainerLog | undefined {
    return this.logs.get(this.key(ns, pod, container));
  }

  dirOf(ns: string, pod: string, uid: string): string {
    return join(this.root, `${ns}_${pod}_${uid}`);
  }

  forget(ns: string, pod: string, file: string | undefined): void {
    for (const c of [...this.logs.keys()]) {
      const entry = this.logs.get(c);
      if (c.startsWith(`${ns}/${pod}/`) && (!file || entry?.file.startsWith(file))) this.logs.delete(c);
    }
  }
}
