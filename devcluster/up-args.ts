/** `up`'s flags, or undefined when they are not `[--nodes N]` (N nodes, 1 to 8). */
export function parseUpArgs(args: string[]): { nodes: number } | undefined {
  const out = { nodes: 1 };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === '--nodes' && value && /^[1-8]$/.test(value)) out.nodes = Number(value);
    else return undefined;
  }
  return out;
}
