/**
 * The benchmark chart (bench/lib/chart.ts): the SVG must stay well-formed whatever the labels
 * hold. No benchmark runs here.
 */
import { describe, expect, it } from 'vitest';
import { renderChart } from '../../../bench/lib/chart.ts';

describe('bench chart', () => {
  it('draws one bar per subject with its value, a target line, and escapes labels', () => {
    const svg = renderChart('T <1>', 'sub & title', [
      {
        title: 'Throughput',
        unit: 'req/s',
        bars: [
          { label: 'a < b', value: 1500, role: 'project' },
          { label: 'bare', value: 3000, role: 'baseline' },
        ],
        target: { value: 2000, label: 'goal' },
      },
      { title: 'Empty figure', unit: 'ms', bars: [{ label: 'missing', value: NaN, role: 'diagnostic' }] },
    ]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('T &lt;1&gt;');
    expect(svg).toContain('sub &amp; title');
    expect(svg).toContain('a &lt; b');
    expect(svg).not.toContain('a < b');
    expect(svg).toContain('>1,500<');
    expect(svg).toContain('>3,000<');
    expect(svg).toContain('>n/a<');
    expect(svg.match(/<line /g)).toHaveLength(1);
    // The longest bar spans the plot; the shorter one is in proportion.
    const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths[0]! * 2).toBeCloseTo(widths[1]!, 0);
  });
});
