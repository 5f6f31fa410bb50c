import { describe, expect, it } from 'vitest';
import {
  RESULTS_SUMMARY_MAX,
  jobResultsPrefix,
  parseResultsManifest,
  resultsManifestKey,
  serializeResultsManifest,
  summarizeResults,
} from '../../../../lib/job/results-manifest.ts';
import type { Result } from '../../../../lib/job/status.ts';

const JOB = '0123456789abcdef0123456789abcdef';
const OTHER = 'fedcba9876543210fedcba9876543210';

const log = (index: number, type: Result['type'], filename: string): Result => ({
  index,
  filename,
  filesize: 1,
  type,
  key: `${JOB}/logs/${filename}`,
});
const output = (index: number, filename = `o${index}`): Result => ({
  index,
  filename,
  filesize: 1,
  type: 'output',
  key: `${JOB}/outputs/${filename}`,
});

describe('results manifest', () => {
  it("lives beside the job's outputs and logs folders, never inside them", () => {
    expect(jobResultsPrefix(JOB)).toBe(`${JOB}/`);
    expect(resultsManifestKey(JOB)).toBe(`${JOB}/manifest.json`);
    expect(() => resultsManifestKey('../x')).toThrow();
  });

  it('round-trips the results of its job', () => {
    const results = [
      log(0, 'configurationLog', 'configure.log'),
      output(1, 'sub/a.csv'),
      log(2, 'publishLog', 'publish.log'),
    ];
    expect(parseResultsManifest(JOB, serializeResultsManifest(JOB, results))).toEqual(results);
  });

  it.each([
    ['not JSON', 'nope', 'the results manifest is malformed'],
    ['another version', JSON.stringify({ version: 2, jobId: JOB, results: [] }), 'the results manifest is malformed'],
    [
      "another job's",
      JSON.stringify({ version: 1, jobId: OTHER, results: [] }),
      'the results manifest belongs to another job',
    ],
    [
      'indexes out of order',
      JSON.stringify({ version: 1, jobId: JOB, results: [output(1)] }),
      'the results manifest lists results out of order or outside the job',
    ],
    [
      'a key outside the job',
      JSON.stringify({ version: 1, jobId: JOB, results: [{ ...output(0), key: `${OTHER}/outputs/o0` }] }),
      'the results manifest lists results out of order or outside the job',
    ],
    [
      "a key that is not the filename's",
      JSON.stringify({ version: 1, jobId: JOB, results: [{ ...output(0), key: `${JOB}/logs/o0` }] }),
      'the results manifest lists results out of order or outside the job',
    ],
  ])('refuses a manifest that is %s', (_, text, error) => {
    expect(parseResultsManifest(JOB, text)).toEqual({ error });
  });
});

describe('summarizeResults', () => {
  it('keeps everything when there is little', () => {
    const results = [log(0, 'configurationLog', 'configure.log'), output(1), log(2, 'publishLog', 'publish.log')];
    expect(summarizeResults(results)).toEqual(results);
  });

  it('keeps the stage logs and the first outputs, in index order, however many there are', () => {
    const extraLogs = Array.from({ length: 150 }, (_, i) => log(i + 1, 'algorithmLog', `a${i}.log`));
    const results = [
      log(0, 'configurationLog', 'configure.log'),
      ...extraLogs,
      log(151, 'algorithmLog', 'algorithm.log'),
      ...Array.from({ length: 3000 }, (_, i) => output(152 + i)),
      log(3152, 'publishLog', 'publish.log'),
    ];
    const summary = summarizeResults(results);
    expect(summary).toHaveLength(RESULTS_SUMMARY_MAX + 3);
    expect(summary.map((r) => r.filename)).toEqual([
      'configure.log',
      ...extraLogs.slice(0, 100).map((r) => r.filename),
      'algorithm.log',
      'publish.log',
    ]);
    expect(summarizeResults(results, 2).map((r) => r.index)).toEqual([0, 1, 2, 151, 3152]);
  });
});
