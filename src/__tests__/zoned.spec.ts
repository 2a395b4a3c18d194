/**
 * Wall times a DST change skips or repeats (src/time/zoned.ts), checked
 * against the tz database through Intl.
 */
import {
  checkWallTime,
  nextDstClash,
  zonedWallTimeToDate
} from '../time/zoned';

const PARIS = 'Europe/Paris';

describe('checkWallTime', () => {
  it('finds a time the spring-forward jump skips, and where the clocks jump', () => {
    const check = checkWallTime(
      { year: 2026, month: 3, day: 29, hour: 2, minute: 30 },
      PARIS
    );
    expect(check.kind).toBe('skipped');
    if (check.kind === 'skipped') {
      expect(check.jumpFrom).toBe('02:00');
      expect(check.jumpTo).toBe('03:00');
      expect(check.jumpAt.toISOString()).toBe('2026-03-29T01:00:00.000Z');
    }
  });

  it('finds both occurrences of a time the fall-back hour repeats', () => {
    const check = checkWallTime(
      { year: 2026, month: 10, day: 25, hour: 2, minute: 30 },
      PARIS
    );
    expect(check.kind).toBe('repeated');
    if (check.kind === 'repeated') {
      expect(check.first.toISOString()).toBe('2026-10-25T00:30:00.000Z');
      expect(check.second.toISOString()).toBe('2026-10-25T01:30:00.000Z');
      expect(check.firstOffset).toBe('+02:00');
      expect(check.secondOffset).toBe('+01:00');
    }
  });

  it('answers the one instant of an ordinary wall time, seconds included', () => {
    const check = checkWallTime(
      { year: 2026, month: 10, day: 26, hour: 2, minute: 30, second: 15 },
      PARIS
    );
    expect(check).toEqual({
      kind: 'ok',
      instant: new Date('2026-10-26T01:30:15.000Z')
    });
    expect(
      zonedWallTimeToDate(2026, 10, 26, 2, 30, PARIS, 15).toISOString()
    ).toBe('2026-10-26T01:30:15.000Z');
  });

  it('sees the midnight jump of a zone that changes at 24:00', () => {
    const check = checkWallTime(
      { year: 2026, month: 9, day: 6, hour: 0, minute: 0 },
      'America/Santiago'
    );
    expect(check.kind).toBe('skipped');
  });
});

describe('nextDstClash', () => {
  it('finds the next day a daily time is skipped or repeated', () => {
    const clash = nextDstClash({ year: 2026, month: 1, day: 1 }, 2, 30, PARIS);
    expect(clash).not.toBeNull();
    expect([clash?.year, clash?.month, clash?.day]).toEqual([2026, 3, 29]);
    expect(clash?.check.kind).toBe('skipped');
  });

  it('only looks at the days the schedule runs on', () => {
    // Weekly on Mondays: neither change day (Sundays) is one of its days.
    const monday = (y: number, m: number, d: number) =>
      new Date(Date.UTC(y, m - 1, d)).getUTCDay() === 1;
    expect(
      nextDstClash({ year: 2026, month: 1, day: 1 }, 2, 30, PARIS, monday)
    ).toBeNull();
  });

  it('finds none in a zone without DST or at a time no change touches', () => {
    expect(
      nextDstClash({ year: 2026, month: 1, day: 1 }, 2, 30, 'UTC')
    ).toBeNull();
    expect(
      nextDstClash({ year: 2026, month: 1, day: 1 }, 12, 0, PARIS)
    ).toBeNull();
  });
});
