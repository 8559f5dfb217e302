/**
 * The benchmark report renderer (bench/lib/report.ts): what `npm run bench` writes must name
 * every subject, figure and target. No benchmark runs here, and nothing is timed.
 */
import { describe, expect, it } from 'vitest';
import { machineGrouping, median, renderMarkdown, renderSummary, roundFigure, type BenchResult } from '../../../bench/lib/report.ts';

const result: BenchResult = {
  name: 'sample',
  title: 'Sample benchmark',
  measuredAt: '2026-11-22T00:00:00.000Z',
  machine: { cpus: 2, cpuModel: 'Test CPU', node: 'v24.0.0', loadAverage: [1, 2, 3] },
  setup: { connections: 50 },
  rows: [
    { subject: 'project', role: 'project', figures: { reqPerSec: 1234.5678, p99Ms: 4.321 } },
    { subject: 'baseline', role: 'baseline', figures: { reqPerSec: 2000 } },
  ],
  targets: [
    { what: 'ratio', target: '≥ 0.5×', measured: '0.62×', met: true },
    { what: 'p99', target: '≤ 10 ms', measured: '12 ms', met: false },
  ],
  notes: ['a note'],
};

describe('bench report', () => {
  it('takes the median of odd and even counts, NaN of none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('rounds figures to what a table can show', () => {
    expect([roundFigure(1234.56), roundFigure(12.345), roundFigure(1.2345)]).toEqual([1235, 12.3, 1.23]);
  });

  it('renders every row with a column per figure, the targets with misses in bold, the machine and notes', () => {
    const lines = renderMarkdown(result).split('\n');
    expect(lines).toContain('| subject | role | req/s | p99 ms |');
    expect(lines).toContain('| project | project | 1235 | 4.32 |');
    expect(lines).toContain('| baseline | baseline | 2000 |  |');
    expect(lines).toContain('| ratio | ≥ 0.5× | 0.62× | yes |');
    expect(lines).toContain('| p99 | ≤ 10 ms | 12 ms | **no** |');
    expect(lines.some((l) => l.includes('Test CPU') && l.includes('load average 1 2 3'))).toBe(true);
    expect(lines).toContain('- a note');
  });
});

describe('bench summary', () => {
  const runStartedAt = new Date('2026-11-22T00:00:00.000Z');
  const here = result.machine;
  const other = { ...result, name: 'other', title: 'Other benchmark', machine: { ...here, cpuModel: 'Intel Xeon', cpus: 4 } };
  const earlier = { ...result, name: 'earlier', title: 'Earlier benchmark', measuredAt: '2026-11-20T00:00:00.000Z' };

  it('says nothing about machines when every result comes from this one, in this run', () => {
    const summary = renderSummary([result], { runStartedAt, machine: here });
    expect(summary).not.toMatch(/machines|earlier run|Not re-measured/);
    expect(summary).toContain('| sample | ratio | ≥ 0.5× | 0.62× | yes |');
  });

  it('flags and groups results from another machine, naming each machine and its benchmarks', () => {
    const lines = renderSummary([result, other], { runStartedAt, machine: here }).split('\n');
    expect(lines).toContain('**These results come from 2 machines: compare figures only within one.**');
    expect(lines).toContain('- machine A: 2 × Test CPU, Node v24.0.0 (this run): sample');
    expect(lines).toContain('- machine B: 4 × Intel Xeon, Node v24.0.0: other');
    expect(lines).toContain('| other | ratio | ≥ 0.5× | 0.62× | yes | machine B |');
    const headingA = lines.indexOf('## machine A: 2 × Test CPU, Node v24.0.0');
    const headingB = lines.indexOf('## machine B: 4 × Intel Xeon, Node v24.0.0');
    expect(headingA).toBeGreaterThan(0);
    expect(lines.indexOf('### Other benchmark')).toBeGreaterThan(headingB);
    expect(lines.indexOf('### Sample benchmark')).toBeGreaterThan(headingA);
    expect(lines.indexOf('### Sample benchmark')).toBeLessThan(headingB);
  });

  it('marks results measured before this run as not re-measured', () => {
    const lines = renderSummary([result, earlier], { runStartedAt, machine: here }).split('\n');
    expect(lines).toContain('**Not re-measured in this run:** earlier (2026-11-20T00:00:00.000Z).');
    expect(lines).toContain('| earlier | ratio | ≥ 0.5× | 0.62× | yes | earlier run, 2026-11-20 |');
    expect(lines).toContain('| sample | ratio | ≥ 0.5× | 0.62× | yes | this run |');
    expect(lines).toContain('- _Measured in an earlier run (2026-11-20T00:00:00.000Z)._');
  });

  it('tells apart two machines of one name by their measured speed, and keeps one machine one', () => {
    const fast = { ...here, speed: 4_000 };
    const sameFast = { ...here, speed: 3_400 };
    const slow = { ...here, speed: 1_000 };
    const machineOf = machineGrouping([fast, sameFast, slow]);
    expect(machineOf(fast)).toBe(machineOf(sameFast));
    expect(machineOf(slow)).not.toBe(machineOf(fast));

    const lines = renderSummary(
      [
        { ...result, machine: slow },
        { ...other, name: 'fast', machine: fast },
      ],
      { runStartedAt, machine: slow },
    ).split('\n');
    expect(lines).toContain('**These results come from 2 machines: compare figures only within one.**');
    expect(lines).toContain('- machine A: 2 × Test CPU, Node v24.0.0, speed 1000 (this run): sample');
    expect(lines).toContain('- machine B: 2 × Test CPU, Node v24.0.0, speed 4000: fast');
  });

  it('does not take a result whose speed was not recorded for one from a measured machine of the same name', () => {
    const measured = { ...here, speed: 2_000 };
    const lines = renderSummary(
      [
        { ...result, machine: measured },
        { ...other, name: 'unmeasured', machine: here },
      ],
      { runStartedAt, machine: measured },
    ).split('\n');
    expect(lines).toContain('- machine B: 2 × Test CPU, Node v24.0.0, speed not recorded: unmeasured');
  });
});
