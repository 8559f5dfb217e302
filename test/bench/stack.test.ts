import { describe, expect, it } from 'vitest';
import { offeredRate } from '../../bench/stack.ts';
import { GAP_PROBABILITY } from '../../scripts/simulate/devices.ts';

describe('the stack benchmark', () => {
  it('asks the simulator for enough that, after its device gaps, the target rate is sent', () => {
    for (const rate of [1_000, 6_000, 10_000]) {
      const offered = offeredRate(rate);
      expect(offered * (1 - GAP_PROBABILITY)).toBeGreaterThanOrEqual(rate);
      // No more than a rounding step above: the benchmark sends the target, not a different load.
      expect(offered * (1 - GAP_PROBABILITY)).toBeLessThan(rate + 50);
    }
    expect(offeredRate(6_000)).toBe(6_150);
  });
});
