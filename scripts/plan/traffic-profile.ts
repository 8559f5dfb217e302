/**
 * The shape of a day's traffic, as a multiplier of the fleet's mean message rate.
 *
 * A profile is a function of the second of the day (0 ≤ t < 86,400) whose mean over the day
 * is 1, so the day's volume is always `devices × 86,400 / interval` messages whatever the
 * shape: the shape only moves traffic between hours. See docs/capacity.md "Traffic".
 */

export const DAY_SECONDS = 86_400;

export interface TrafficProfile {
  /** What the chart and the table call it. */
  name: string;
  /** Multiplier of the mean rate at second `t` of the day (wraps around midnight). */
  at(t: number): number;
}

/** The same rate all day: devices that report on a timer. */
export const flatProfile: TrafficProfile = { name: 'flat', at: () => 1 };

/**
 * Points (hour of day, relative load) of the built-in daily curve: a night trough near 04:00,
 * a morning peak near 09:00 and an evening peak near 19:00, the shape of fleets whose devices
 * report more often while people are about (meters, vehicles, buildings).
 */
const DIURNAL_POINTS: [number, number][] = [
  [0, 0.55],
  [2, 0.4],
  [4, 0.35],
  [6, 0.6],
  [8, 1.35],
  [9, 1.6],
  [11, 1.3],
  [13, 1.2],
  [15, 1.15],
  [17, 1.4],
  [19, 1.7],
  [21, 1.2],
  [23, 0.7],
];

/**
 * The reconnect storm: at 08:00 every device that slept overnight reports at once. For 60 s
 * the rate is this many times the curve's, which is the burst that sends Knative's
 * autoscaler into panic mode.
 */
export const STORM = { startSecond: 8 * 3600, seconds: 60, factor: 3 } as const;

/** Piecewise-linear interpolation over (second, value) points sorted by second, wrapping at midnight. */
function interpolateDaily(points: [number, number][]): (t: number) => number {
  return (t: number) => {
    const s = ((t % DAY_SECONDS) + DAY_SECONDS) % DAY_SECONDS;
    for (let i = 0; i < points.length; i += 1) {
      const [t0, v0] = points[i]!;
      const [t1raw, v1] = points[(i + 1) % points.length]!;
      const t1 = i + 1 < points.length ? t1raw : t1raw + DAY_SECONDS;
      if (s >= t0 && s < t1) return v0 + ((v1 - v0) * (s - t0)) / (t1 - t0);
    }
    // Before the first point: between the last point (yesterday) and the first.
    const [tl, vl] = points.at(-1)!;
    const [tf, vf] = points[0]!;
    const from = tl - DAY_SECONDS;
    return vl + ((vf - vl) * (s - from)) / (tf - from);
  };
}

/** Scales a shape so that its mean over the day (sampled each second) is exactly 1. */
function normalise(name: string, shape: (t: number) => number): TrafficProfile {
  let sum = 0;
  for (let t = 0; t < DAY_SECONDS; t += 1) sum += shape(t);
  const mean = sum / DAY_SECONDS;
  if (!(mean > 0)) throw new Error(`the ${name} profile carries no traffic`);
  return { name, at: (t) => shape(t) / mean };
}

/** The built-in daily curve with its 08:00 reconnect storm. */
export function diurnalProfile(): TrafficProfile {
  const curve = interpolateDaily(DIURNAL_POINTS.map(([h, v]) => [h * 3600, v]));
  return normalise('diurnal', (t) => {
    const s = ((t % DAY_SECONDS) + DAY_SECONDS) % DAY_SECONDS;
    const storm = s >= STORM.startSecond && s < STORM.startSecond + STORM.seconds ? STORM.factor : 1;
    return curve(s) * storm;
  });
}

/**
 * A measured day from CSV: one `time,load` line per sample, where time is `HH:MM[:SS]` or
 * seconds since midnight and load is any non-negative number (requests per second from a
 * dashboard export, say). Only the shape is kept: loads are scaled to a daily mean of 1.
 * A header line is allowed; every bad line is named.
 */
export function parseProfileCsv(text: string, name = 'csv'): TrafficProfile {
  const points: [number, number][] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [timeText = '', loadText = '', ...rest] = line.split(',').map((cell) => cell.trim());
    const second = parseTimeOfDay(timeText);
    const load = Number(loadText);
    if (index === 0 && second === undefined && Number.isNaN(load)) return; // header
    if (second === undefined || rest.length > 0 || loadText === '' || !Number.isFinite(load) || load < 0) {
      problems.push(`line ${index + 1}: expected "time,load" with time HH:MM[:SS] or seconds (< 86400) and load ≥ 0, got "${line}"`);
      return;
    }
    points.push([second, load]);
  });
  if (problems.length > 0) throw new Error(problems.join('; '));
  if (points.length === 0) throw new Error('the profile has no samples');
  points.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < points.length; i += 1) {
    if (points[i]![0] === points[i - 1]![0]) throw new Error(`two samples at second ${points[i]![0]}`);
  }
  return normalise(name, points.length === 1 ? () => points[0]![1] : interpolateDaily(points));
}

function parseTimeOfDay(text: string): number | undefined {
  const clock = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (clock) {
    const [h, m, s] = [Number(clock[1]), Number(clock[2]), Number(clock[3] ?? 0)];
    return h < 24 && m < 60 && s < 60 ? h * 3600 + m * 60 + s : undefined;
  }
  if (/^\d+(\.\d+)?$/.test(text) && Number(text) < DAY_SECONDS) return Number(text);
  return undefined;
}
