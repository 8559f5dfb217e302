/**
 * The value parsers and the placeholder rule of scripts/deploy/manifest-rules.ts. The
 * validators against rendered overlays, each fed a broken manifest, are in
 * test/deployment-surface.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { findPlaceholders, parseGoDuration, parseQuantity } from '../../../scripts/deploy/manifest-rules.ts';

type Manifests = Parameters<typeof findPlaceholders>[0];

describe('manifest values', () => {
  it('reads Go durations as Knative does', () => {
    expect(parseGoDuration('2m')).toBe(120);
    expect(parseGoDuration('1h30m')).toBe(5400);
    expect(parseGoDuration('1.5s')).toBe(1.5);
    expect(parseGoDuration('PT5M')).toBeUndefined();
  });

  it('reads Kubernetes quantities in base units', () => {
    expect(parseQuantity('500m')).toBe(0.5);
    expect(parseQuantity('2')).toBe(2);
    expect(parseQuantity('256Mi')).toBe(256 * 1024 ** 2);
    expect(parseQuantity('1G')).toBe(1e9);
    expect(parseQuantity(3)).toBe(3);
    expect(parseQuantity('1 Gi')).toBeUndefined();
    expect(parseQuantity('lots')).toBeUndefined();
  });
});

describe('findPlaceholders', () => {
  it('names every string that still holds a placeholder, with its path', () => {
    const manifests = [
      {
        apiVersion: 'serving.knative.dev/v1',
        kind: 'Service',
        metadata: { name: 'ingest', annotations: { note: 'fine' } },
        spec: {
          template: {
            spec: {
              containers: [
                { image: 'REGION-docker.pkg.dev/PROJECT_ID/telemetry/ingest' },
                { image: 'europe-docker.pkg.dev/real/telemetry/x', args: ['<your-bucket>'] },
              ],
            },
          },
        },
      },
    ] as unknown as Manifests;
    expect(findPlaceholders(manifests).map((i) => i.path)).toEqual([
      'Service/ingest.spec.template.spec.containers[0].image',
      'Service/ingest.spec.template.spec.containers[1].args[0]',
    ]);
  });
});
