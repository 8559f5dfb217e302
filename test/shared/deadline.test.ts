/** Deadlines on calls that leave the process, and the dependency health /healthz reads (shared/deadline.ts). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineError, DependencyHealth, isTimeoutError, withDeadline } from '../../shared/deadline.ts';
import { TransientError } from '../../shared/errors.ts';

const never = new Promise<never>(() => {});

describe('withDeadline', () => {
  it('settles as the work does when it is in time', async () => {
    await expect(withDeadline(Promise.resolve(7), 60_000, 'postgres', 'a query')).resolves.toBe(7);
    await expect(withDeadline(Promise.reject(new Error('refused')), 60_000, 'postgres', 'a query')).rejects.toThrow('refused');
  });

  it('rejects work that never settles with a transient DeadlineError naming the dependency and the call', async () => {
    const error = await withDeadline(never, 5, 'bigquery', 'insertAll').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineError);
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ dependency: 'bigquery', message: 'insertAll: bigquery did not answer within 5 ms' });
  });
});

describe('isTimeoutError', () => {
  it.each([
    [new DeadlineError('pg', 1, 'q'), true],
    [Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }), true],
    [Object.assign(new Error('connect'), { code: 'ETIMEDOUT' }), true],
    [new Error('Connection terminated due to connection timeout'), true],
    [new Error('outer', { cause: new DeadlineError('pg', 1, 'q') }), true],
    [new Error('connection refused'), false],
    ['timeout', false],
  ])('%s → %s', (error, expected) => {
    expect(isTimeoutError(error)).toBe(expected);
  });
});

describe('DependencyHealth', () => {
  it('is unhealthy from a timeout until the next success, and ignores other failures', async () => {
    const health = new DependencyHealth();
    health.failed('postgres', new Error('syntax error'));
    expect(health.status()).toEqual({ ok: true, problems: [] });
    await health.observe('postgres', withDeadline(never, 1, 'postgres', 'q')).catch(() => undefined);
    const status = health.status();
    expect(status.ok).toBe(false);
    expect(status.problems[0]).toMatch(/^postgres timed out \d+ s ago \(q: postgres did not answer within 1 ms\)$/);
    await health.observe('postgres', Promise.resolve());
    expect(health.status().ok).toBe(true);
  });

  it('forgets a timeout nobody retried once forgetAfterMs has passed', () => {
    const health = new DependencyHealth({ forgetAfterMs: 30_000 });
    health.failed('bigquery', new DeadlineError('bigquery', 1, 'insertAll'));
    expect(health.status(performance.now() + 29_000).ok).toBe(false);
    expect(health.status(performance.now() + 31_000)).toEqual({ ok: true, problems: [] });
  });

  it('forgets on the monotonic clock: a wall clock stepped back keeps no instance out of rotation', () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    const health = new DependencyHealth({ forgetAfterMs: 30_000 });
    health.failed('bigquery', new DeadlineError('bigquery', 1, 'insertAll'));
    vi.setSystemTime(Date.now() - 3_600_000);
    vi.advanceTimersByTime(31_000);
    expect(health.status()).toEqual({ ok: true, problems: [] });
  });
});

afterEach(() => {
  vi.useRealTimers();
});
