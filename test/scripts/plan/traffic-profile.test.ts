/** Daily traffic shapes: each keeps the day's volume (mean 1) and only moves it between hours. */
import { describe, expect, it } from 'vitest';
import { DAY_SECONDS, STORM, diurnalProfile, flatProfile, parseProfileCsv, type TrafficProfile } from '../../../scripts/plan/traffic-profile.ts';

const meanOf = (p: TrafficProfile) => {
  let sum = 0;
  for (let t = 0; t < DAY_SECONDS; t += 1) sum += p.at(t);
  return sum / DAY_SECONDS;
};

describe('flat and diurnal profiles', () => {
  it('flat is 1 all day', () => {
    expect(meanOf(flatProfile)).toBe(1);
    expect(flatProfile.at(12_345)).toBe(1);
  });

  it('diurnal has a mean of 1, a night trough, two daytime peaks and the 08:00 reconnect storm', () => {
    const p = diurnalProfile();
    expect(meanOf(p)).toBeCloseTo(1, 9);
    expect(p.at(4 * 3600)).toBeLessThan(0.5);
    expect(p.at(9 * 3600)).toBeGreaterThan(1.2);
    expect(p.at(19 * 3600)).toBeGreaterThan(1.2);
    const before = p.at(STORM.startSecond - 1);
    const during = p.at(STORM.startSecond + 30);
    expect(during / before).toBeCloseTo(STORM.factor, 1);
    expect(p.at(STORM.startSecond + STORM.seconds)).toBeLessThan(during / 2);
  });

  it('wraps around midnight', () => {
    const p = diurnalProfile();
    expect(p.at(DAY_SECONDS + 3600)).toBeCloseTo(p.at(3600), 12);
    expect(p.at(-3600)).toBeCloseTo(p.at(DAY_SECONDS - 3600), 12);
  });
});

describe('parseProfileCsv', () => {
  it('reads HH:MM and seconds, skips a header and comments, interpolates and keeps only the shape', () => {
    const p = parseProfileCsv('time,requests_per_second\n# measured on a Monday\n00:00,100\n12:00,300\n', 'monday.csv');
    expect(p.name).toBe('monday.csv');
    expect(meanOf(p)).toBeCloseTo(1, 9);
    // Linear 100 → 300 → (wrapping) 100: the noon value is 1.5 times the mean.
    expect(p.at(12 * 3600)).toBeCloseTo(1.5, 3);
    expect(p.at(0)).toBeCloseTo(0.5, 3);
    expect(p.at(6 * 3600)).toBeCloseTo(1, 3);
    const seconds = parseProfileCsv('0,1\n43200,3');
    expect(seconds.at(12 * 3600)).toBeCloseTo(1.5, 3);
  });

  it('names every bad line', () => {
    expect(() => parseProfileCsv('00:00,1\n25:00,2\n01:00,-1\n02:00,x\n03:00,1,2')).toThrow(
      /line 2: .*"25:00,2".*line 3: .*"01:00,-1".*line 4: .*"02:00,x".*line 5: .*"03:00,1,2"/,
    );
  });

  it('refuses an empty profile, duplicate times and a day without traffic', () => {
    expect(() => parseProfileCsv('time,load\n')).toThrow(/no samples/);
    expect(() => parseProfileCsv('01:00,1\n3600,2')).toThrow(/two samples at second 3600/);
    expect(() => parseProfileCsv('00:00,0\n12:00,0')).toThrow(/no traffic/);
  });
});
