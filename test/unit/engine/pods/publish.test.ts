import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryResultsStore } from '../../../support/memory-results-store.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { PUBLISH_EXIT } from '../../../../lib/job/exit-codes.ts';
import { ProgramLog } from '../../../../engine/pods/program-log.ts';
import { selectUploads } from '../../../../engine/pods/publish-limits.ts';
import { publishJob } from '../../../../engine/pods/publish.ts';
import { parseResultsManifest } from '../../../../lib/job/results-manifest.ts';
import { JOB_ID } from '../../../support/job-fixtures.ts';

const scratch = mkdtempSync(join(tmpdir(), 'c2d-publish-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

/** A job volume with the given logs and outputs (name → content, or a size for a sparse file). */
function volume(logs: Record<string, string>, outputs: Record<string, string | { sparse: number }>): string {
  const root = join(scratch, String(n++));
  mkdirSync(join(root, 'logs'), { recursive: true });
  mkdirSync(join(root, 'outputs'), { recursive: true });
  for (const [name, body] of Object.entries(logs)) writeFileSync(join(root, 'logs', name), body);
  for (const [name, body] of Object.entries(outputs)) {
    const path = join(root, 'outputs', name);
    mkdirSync(join(path, '..'), { recursive: true });
    if (typeof body === 'string') writeFileSync(path, body);
    else {
      closeSync(openSync(path, 'w'));
      truncateSync(path, body.sparse);
    }
  }
  return root;
}

async function publish(root: string, limits: { maxBytes: number; maxFiles?: number; maxPathBytes?: number }) {
  const store = memoryResultsStore();
  const log = new ProgramLog(undefined, () => undefined);
  const out = await publishJob(
    JOB_ID,
    root,
    { client: store.client, bucket: 'b', log },
    { maxFiles: 100, maxPathBytes: 512, ...limits },
  );
  return { ...out, ...store, publishLog: store.stored.get(`${JOB_ID}/logs/publish.log`)!.toString() };
}

const file = (relative: string, size: number) => ({ relative, absolute: `/x/${relative}`, size });

describe('selectUploads', () => {
  it.each([
    ['everything that fits', 100, ['configure.log', 'a', 'b'], undefined],
    ['exactly the limit', 60, ['configure.log', 'a', 'b'], undefined],
    [
      'over the limit: the logs only',
      59,
      ['configure.log'],
      /total 60 bytes, over the job's disk limit of 59 bytes: no output was uploaded$/,
    ],
    ['logs alone over the limit: nothing', 9, [], /no output was uploaded, nor any log$/],
  ])('%s', (_, maxBytes, kept, refusal) => {
    const s = selectUploads([file('configure.log', 10)], [file('a', 20), file('b', 30)], maxBytes);
    expect([...s.logs, ...s.outputs].map((f) => f.relative)).toEqual(kept);
    if (refusal) expect(s.refusal).toMatch(refusal);
    else expect(s.refusal).toBeUndefined();
  });
});

describe('publishJob limits', () => {
  it('uploads no output when the outputs are over the disk limit, still the logs and the manifest, and exits 42', async () => {
    const root = volume(
      { 'configure.log': 'conf', 'algorithm.log': 'algo' },
      { 'small.txt': 'tiny', 'big.bin': 'x'.repeat(2000) },
    );
    const p = await publish(root, { maxBytes: 1000 });
    expect(p.exitCode).toBe(PUBLISH_EXIT.diskQuotaExceeded);
    expect(p.order).toEqual([
      `${JOB_ID}/logs/configure.log`,
      `${JOB_ID}/logs/algorithm.log`,
      `${JOB_ID}/logs/publish.log`,
      `${JOB_ID}/manifest.json`,
    ]);
    expect(p.results.map((r) => r.type)).toEqual(['configurationLog', 'algorithmLog', 'publishLog']);
    expect(parseResultsManifest(JOB_ID, p.stored.get(`${JOB_ID}/manifest.json`)!.toString())).toEqual(p.results);
    expect(p.publishLog).toContain(
      "disk limit exceeded: outputs and logs total 2012 bytes, over the job's disk limit of 1000 bytes",
    );
  });

  it('counts a sparse file at its full size (what an upload would send)', async () => {
    const root = volume({}, { 'sparse.bin': { sparse: 64 * 1024 * 1024 } });
    expect(statSync(join(root, 'outputs', 'sparse.bin')).blocks).toBe(0);
    const p = await publish(root, { maxBytes: 16 * 1024 * 1024 });
    expect(p.exitCode).toBe(42);
    expect([...p.stored.keys()].filter((k) => k.includes('/outputs/'))).toEqual([]);
  });

  it('exits 0 with everything uploaded when it fits', async () => {
    const p = await publish(volume({ 'configure.log': 'c' }, { 'a.txt': 'aaa', 'sub/b.txt': 'bb' }), { maxBytes: 6 });
    expect(p.exitCode).toBe(0);
    expect(p.stored.get(`${JOB_ID}/outputs/sub/b.txt`)?.toString()).toBe('bb');
  });

  it('bounds the number of files and the length of their paths, logging at most 100 refusals', async () => {
    const outputs: Record<string, string> = {
      [`${'n'.repeat(250)}/${'m'.repeat(250)}/${'o'.repeat(20)}`]: 'long',
      [`d${'i'.repeat(250)}/${'j'.repeat(255)}/${'k'.repeat(9)}`]: 'deep',
    };
    for (let i = 0; i < 150; i++) outputs[`f${String(i).padStart(3, '0')}`] = String(i);
    const p = await publish(volume({ 'configure.log': 'c' }, outputs), {
      maxBytes: 1_000_000,
      maxFiles: 20,
      maxPathBytes: 512,
    });
    expect(p.exitCode).toBe(0);
    // configure.log plus 19 outputs, plus publish.log.
    expect(p.results).toHaveLength(21);
    expect(p.results.filter((r) => r.type === 'output').map((r) => r.filename)).toEqual(
      Array.from({ length: 19 }, (_, i) => `f${String(i).padStart(3, '0')}`),
    );
    expect(p.publishLog).toContain('path longer than 512 bytes');
    expect(p.publishLog).toContain('more than 19 files');
    expect(p.publishLog.match(/refused outputs\//g)).toHaveLength(100);
    expect(p.publishLog).toContain('refused 33 more entries of outputs/');
  });
});
