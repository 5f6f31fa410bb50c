import { appendFileSync } from 'node:fs';

/**
 * The log of a pod program: timestamped lines to stdout (the container log) and, when given, appended to a file on
 * the job volume so publish can store it. Also kept in memory for programs that upload their own log.
 */
export class ProgramLog {
  readonly lines: string[] = [];

  constructor(
    private readonly file?: string,
    private readonly out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {}

  info(message: string): void {
    const line = `${new Date().toISOString()} ${message}`;
    this.lines.push(line);
    this.out(line);
    if (this.file) {
      try {
        appendFileSync(this.file, `${line}\n`);
      } catch {
        // The volume may be unwritable (full); stdout still has the line.
      }
    }
  }

  text(): string {
    return this.lines.map((l) => `${l}\n`).join('');
  }
}
