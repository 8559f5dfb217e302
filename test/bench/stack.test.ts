import { describe, expect, it } from 'vitest';
import { offeredRate } from '../../bench/stack.ts';
import { GAP_PROBABILITY } from '../../scripts/simulate/devices.ts';

describe('the stack benchmark', () => {
  it('asks the simulator for enough that, after its device gaps, 1 % over the target rate is sent', () => {
    for (const rate of [1_000, 6_000, 10_000]) {
      const sent = offeredRate(rate) * (1 - GAP_PROBABILITY);
      expect(sent).toBeGreaterThanOrEqual(rate * 1.01);
      // No more than a rounding step above: the benchmark sends the target and its margin, not another load.
      expect(sent).toBeLessThan(rate * 1.01 + 50);
    }
    expect(offeredRate(6_000)).toBe(6_200);
  });
});
