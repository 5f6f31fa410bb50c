import type { NodeKind } from './control-plane.ts';

/** `up`'s flags, or undefined when they are not `[--node local|real] [--nodes N]` (N real nodes, 1 to 8). */
export function parseUpArgs(args: string[]): { node: NodeKind; nodes: number } | undefined {
  const out: { node: NodeKind; nodes: number } = { node: 'local', nodes: 1 };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === '--node' && (value === 'local' || value === 'real')) out.node = value;
    else if (flag === '--nodes' && value && /^[1-8]$/.test(value)) out.nodes = Number(value);
    else return undefined;
  }
  return out.nodes > 1 && out.node !== 'real' ? undefined : out;
}
