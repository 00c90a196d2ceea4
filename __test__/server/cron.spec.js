import { afterEach, describe, expect, it, vi } from 'vitest';
import { live, onCronError, setCronPlatform } from '../../lib/server/index.js';
import { clearCronJobs, parseCron, tickCron } from '../../lib/server/cron.js';
import { fakePlatform, registryWith } from './fakes.js';

afterEach(() => {
  clearCronJobs();
  vi.useRealTimers();
});

const at = (iso) => new Date(iso);

describe('cron expressions (standard semantics, reference bug §9.17 fixed)', () => {
  it.each([
    ['* * * * *', '2026-11-27T10:07:00', true],
    ['*/5 * * * *', '2026-11-27T10:10:00', true],
    ['*/5 * * * *', '2026-11-27T10:11:00', false],
    ['0 9-17 * * *', '2026-11-27T17:00:00', true],
    ['0 9-17 * * *', '2026-11-27T18:00:00', false],
    ['0,15,30 * * * *', '2026-11-27T10:30:00', true],
    ['1-10/3,40 * * * *', '2026-11-27T10:07:00', true],
    ['1-10/3,40 * * * *', '2026-11-27T10:40:00', true],
    ['1-10/3,40 * * * *', '2026-11-27T10:08:00', false],
    ['5/20 * * * *', '2026-11-27T10:45:00', true],
    // Day steps start at 1: days 1, 3, 5, ... (the reference used value % 2 == 0).
    ['0 0 */2 * *', '2026-11-03T00:00:00', true],
    ['0 0 */2 * *', '2026-11-04T00:00:00', false],
    ['0 0 1 jan *', '2027-01-01T00:00:00', true],
    ['0 0 * * mon-fri', '2026-11-28T00:00:00', false], // a Saturday
    ['0 0 * * 7', '2026-11-29T00:00:00', true], // Sunday as 7
    // Both day fields restricted: either matches (the reference required both).
    ['0 0 1 * fri', '2026-11-27T00:00:00', true],
    ['0 0 1 * fri', '2026-12-01T00:00:00', true],
    ['0 0 1 * fri', '2026-12-02T00:00:00', false],
  ])('%s at %s → %s', (expr, iso, expected) => {
    expect(parseCron(expr)(at(iso))).toBe(expected);
  });

  it.each([
    ['* * * *', /expected 5 fields/],
    ['60 * * * *', /minute 60 is outside 0-59/],
    ['* * * foo *', /"foo" is not a valid month/],
    ['*/0 * * * *', /bad step/],
    ['10-5 * * * *', /runs backwards/],
  ])('rejects %s at definition time', (expr, message) => {
    expect(() => live.cron(expr, 'stats', () => 1)).toThrow(message);
  });
});

describe('cron scheduling', () => {
  it('runs on minute boundaries and publishes the result as set', async () => {
    vi.useFakeTimers({ now: at('2026-11-27T10:04:30') });
    const platform = fakePlatform();
    setCronPlatform(platform);
    let n = 0;
    registryWith({ stats: { refresh: live.cron('*/5 * * * *', 'stats', async () => ({ n: ++n })) } });
    await vi.advanceTimersByTimeAsync(29_000);
    expect(platform.published).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000); // 10:05:00
    expect(platform.published).toEqual([{ topic: 'stats', event: 'set', data: { n: 1 } }]);
    await vi.advanceTimersByTimeAsync(4 * 60_000); // 10:09
    expect(platform.published).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(60_000); // 10:10
    expect(platform.published).toHaveLength(2);
  });

  it('errors go to onCronError with the job path', async () => {
    const errors = [];
    onCronError((path, error) => errors.push([path, error.message]));
    setCronPlatform(fakePlatform());
    registryWith({ jobs: { broken: live.cron('* * * * *', 't', () => { throw new Error('nope'); }) } });
    tickCron(at('2026-11-27T10:00:00'));
    await new Promise((r) => setTimeout(r, 0));
    expect(errors).toEqual([['jobs/broken', 'nope']]);
  });
});
