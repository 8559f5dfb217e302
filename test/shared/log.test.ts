import { describe, expect, it } from 'vitest';
import { createLogger, traceFields } from '../../shared/log.ts';

describe('Cloud Logging JSON', () => {
  it('writes severity, message and fields, filtered by level', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', sink: (l) => lines.push(l) }).child({ function: 'ingest' });
    log.debug('hidden');
    log.warn('careful', { n: 1, error: new Error('boom', { cause: 'disk' }) });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      severity: 'WARNING',
      message: 'careful',
      function: 'ingest',
      n: 1,
      error: { name: 'Error', message: 'boom', cause: 'disk' },
    });
  });

  it('takes the trace from traceparent, else from X-Cloud-Trace-Context', () => {
    expect(traceFields({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, 'p1')).toEqual({
      'logging.googleapis.com/trace': 'projects/p1/traces/0af7651916cd43dd8448eb211c80319c',
      'logging.googleapis.com/spanId': 'b7ad6b7169203331',
    });
    expect(traceFields({ 'x-cloud-trace-context': '105445aa7843bc8bf206b12000100000/1;o=1' }, 'p1')).toEqual({
      'logging.googleapis.com/trace': 'projects/p1/traces/105445aa7843bc8bf206b12000100000',
      'logging.googleapis.com/spanId': '1',
    });
    expect(traceFields({ traceparent: 'garbage' }, 'p1')).toEqual({});
  });
});
