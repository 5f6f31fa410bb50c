import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelClosure, SERIALIZED_MODELS, slimObjectSerializer } from '../../../scripts/bundle-functions.ts';

const root = join(import.meta.dirname, '../../..');
const gen = join(root, 'node_modules/@kubernetes/client-node/dist/gen');
const models = join(gen, 'models');
const PRIMITIVES = new Set(['any', 'string', 'boolean', 'number', 'object', 'Date']);

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(root, dir, f), 'utf8'));
}

/** The body of the generated method `name` in an API's file: from its line to the next method at its indentation. */
function method(api: string, name: string): string {
  const start = api.indexOf(`\n    async ${name}(`);
  if (start < 0) throw new Error(`no API has a method ${name}`);
  const end = api.indexOf('\n    async ', start + 1);
  return api.slice(start, end < 0 ? undefined : end);
}

describe('functions bundle: the Kubernetes models it keeps', () => {
  it('keeps every model that the CoreV1Api and CoordinationV1Api calls of lib/ and functions/ send or receive', () => {
    const called = new Set<string>();
    for (const text of [...sources('lib'), ...sources('functions')]) {
      for (const m of text.matchAll(/\.((?:read|list|create|replace|patch|delete)Namespaced\w+)\(/g)) called.add(m[1]!);
    }
    expect(called.size).toBeGreaterThanOrEqual(8);
    const core = readFileSync(join(gen, 'apis/CoreV1Api.js'), 'utf8');
    const coordination = readFileSync(join(gen, 'apis/CoordinationV1Api.js'), 'utf8');
    const keep = modelClosure(models);
    const missing: string[] = [];
    for (const name of called) {
      const api = name.endsWith('Lease') ? coordination : core;
      const request = method(api, name);
      const response = method(api, `${name}WithHttpInfo`);
      const types = [
        ...[...request.matchAll(/ObjectSerializer\.serialize\(body, "([^"]+)"/g)].map((m) => m[1]!),
        ...[...response.matchAll(/ObjectSerializer\.deserialize\([^;]*?, "([^"]+)", ""\)/g)].map((m) => m[1]!),
      ];
      expect(types.length, name).toBeGreaterThan(0);
      for (const type of types) if (!PRIMITIVES.has(type) && !keep.has(type)) missing.push(`${name}: ${type}`);
    }
    expect(missing).toEqual([]);
  });

  it('follows nested attributes, arrays and maps to every model they name', () => {
    const keep = modelClosure(models);
    for (const type of [
      ...SERIALIZED_MODELS,
      'V1ObjectMeta',
      'V1ManagedFieldsEntry',
      'V1OwnerReference',
      'V1ListMeta',
      'V1PodStatus',
      'V1ContainerStatus',
      'V1Preconditions',
    ]) {
      expect(keep.has(type), type).toBe(true);
    }
    expect(keep.has('V1Deployment')).toBe(false);
    expect(keep.size).toBeLessThan(300);
  });

  it('rewrites the serializer to import and map only those models, and refuses a shape it does not know', () => {
    const source = [
      "export * from '../models/V1A.js';",
      "import { V1A } from '../models/V1A.js';",
      "import { V1B } from '../models/V1B.js';",
      'let enumsMap = new Set([]);',
      'let typeMap = {',
      '    "V1A": V1A,',
      '    "V1B": V1B,',
      '};',
      'export class ObjectSerializer {}',
    ].join('\n');
    const slim = slimObjectSerializer(source, new Set(['V1A']));
    expect(slim).toContain("import { V1A } from '../models/V1A.js';");
    expect(slim).not.toContain('V1B');
    expect(slim).not.toContain('export *');
    expect(slim).toContain('"V1A": V1A,');
    expect(slim).toContain('export class ObjectSerializer {}');
    expect(() => slimObjectSerializer(source.replace('"V1B": V1B,', 'V1B,'), new Set(['V1A']))).toThrow(
      /unexpected line in typeMap/,
    );
    expect(() => slimObjectSerializer('export class ObjectSerializer {}', new Set(['V1A']))).toThrow(
      /fewer than the 1 to keep/,
    );
  });
});
