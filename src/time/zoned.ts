/**
 * Wall-clock time in an IANA zone, with Intl only (no library): reading an
 * instant in a zone, the instant of a wall time, and the wall times a DST
 * change skips or repeats.
 */

export interface WallTime {
  year: number;
  /** 1..12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** 0 = Sunday */
  weekday: number;
}

const formatterCache = new Map<string, Intl.DateTimeFormat>();

function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatterCache.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit'
    });
    formatterCache.set(timeZone, formatter);
  }
  return formatter;
}

/** The wall-clock reading of an instant in an IANA zone. */
export function wallTimeInZone(instant: Date, timeZone: string): WallTime {
  const parts: Record<string, number> = {};
  for (const part of zoneFormatter(timeZone).formatToParts(instant)) {
    if (part.type !== 'literal') {
      parts[part.type] = parseInt(part.value, 10);
    }
  }
  const hour = parts.hour === 24 ? 0 : parts.hour;
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    hour,
    minute: parts.minute,
    weekday: new Date(
      Date.UTC(parts.year, parts.month - 1, parts.day)
    ).getUTCDay()
  };
}

function zoneOffsetMs(instantMs: number, timeZone: string): number {
  const wall = wallTimeInZone(new Date(instantMs), timeZone);
  const asUtc = Date.UTC(
    wall.year,
    wall.month - 1,
    wall.day,
    wall.hour,
    wall.minute
  );
  const truncated = instantMs - (((instantMs % 60000) + 60000) % 60000);
  return asUtc - truncated;
}

/** The instant at which the clocks of `timeZone` read the given wall time. */
export function zonedWallTimeToDate(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  timeZone: string,
  second = 0
): Date {
  const guess = Date.UTC(year, month - 1, day, hour, minute, second);
  const firstOffset = zoneOffsetMs(guess, timeZone);
  let instant = guess - firstOffset;
  const secondOffset = zoneOffsetMs(instant, timeZone);
  if (secondOffset !== firstOffset) {
    instant = guess - secondOffset;
  }
  return new Date(instant);
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

export function formatDateField(year: number, month: number, day: number) {
  return `${year}-${pad2(month)}-${pad2(day)}`;
}

export function formatTimeField(hour: number, minute: number) {
  return `${pad2(hour)}:${pad2(minute)}`;
}

/** A wall time as typed in the form: a calendar day and a clock reading. */
export interface WallClock {
  year: number;
  /** 1..12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second?: number;
}

/**
 * What a zone's clocks do at a wall time:
 * - `ok`: it happens once, at `instant`;
 * - `skipped`: the clocks jump over it (spring forward); `jumpAt` is the
 *   instant of the jump and `jumpFrom` / `jumpTo` the readings before and after;
 * - `repeated`: it happens twice (fall back), at `first` then `second`.
 */
export type WallTimeCheck =
  | { kind: 'ok'; instant: Date }
  | {
      kind: 'skipped';
      jumpAt: Date;
      /** The clock reading just before the jump, e.g. "02:00". */
      jumpFrom: string;
      /** The reading the clocks jump to, e.g. "03:00". */
      jumpTo: string;
    }
  | {
      kind: 'repeated';
      first: Date;
      second: Date;
      /** UTC offsets of the two occurrences, e.g. "+02:00" then "+01:00". */
      firstOffset: string;
      secondOffset: string;
    };

function sameWall(instant: number, wall: WallClock, timeZone: string) {
  const w = wallTimeInZone(new Date(instant), timeZone);
  return (
    w.year === wall.year &&
    w.month === wall.month &&
    w.day === wall.day &&
    w.hour === wall.hour &&
    w.minute === wall.minute
  );
}

/** "+02:00" for an offset in ms. */
export function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const minutes = Math.round(Math.abs(offsetMs) / 60000);
  return `${sign}${pad2(Math.floor(minutes / 60))}:${pad2(minutes % 60)}`;
}

/**
 * Whether a wall time exists in a zone, and how many times. The offsets in
 * force 12 hours before and after give the (at most two) candidate instants;
 * the ones whose reading in the zone is the wall time are its occurrences.
 */
export function checkWallTime(
  wall: WallClock,
  timeZone: string
): WallTimeCheck {
  const second = wall.second ?? 0;
  const guess = Date.UTC(
    wall.year,
    wall.month - 1,
    wall.day,
    wall.hour,
    wall.minute,
    second
  );
  const before = zoneOffsetMs(guess - 12 * 3600000, timeZone);
  const after = zoneOffsetMs(guess + 12 * 3600000, timeZone);
  const candidates = Array.from(new Set([guess - before, guess - after]))
    .filter(instant => sameWall(instant, wall, timeZone))
    .sort((a, b) => a - b);
  if (candidates.length === 2) {
    return {
      kind: 'repeated',
      first: new Date(candidates[0]),
      second: new Date(candidates[1]),
      firstOffset: formatOffset(guess - candidates[0]),
      secondOffset: formatOffset(guess - candidates[1])
    };
  }
  if (candidates.length === 1) {
    return { kind: 'ok', instant: new Date(candidates[0]) };
  }
  // Skipped: the jump happens at the instant the old offset would give the
  // wall time of the new offset's start. Search it to the minute.
  let low = guess - before - 12 * 3600000;
  let high = guess - before + 12 * 3600000;
  while (high - low > 60000) {
    const mid = Math.floor((low + high) / 2 / 60000) * 60000;
    if (zoneOffsetMs(mid, timeZone) === before) {
      low = mid;
    } else {
      high = mid;
    }
  }
  const readWith = (offset: number) => {
    const w = new Date(high + offset);
    return formatTimeField(w.getUTCHours(), w.getUTCMinutes());
  };
  return {
    kind: 'skipped',
    jumpAt: new Date(high),
    jumpFrom: readWith(before),
    jumpTo: readWith(after)
  };
}

/**
 * The first day, from `from` on (at most `days` days), on which the zone's
 * clocks skip or repeat the given time of day: for a daily/weekly/monthly
 * schedule, the next DST day it meets. `accept` limits the days (a weekday, a
 * day of the month).
 */
export function nextDstClash(
  from: { year: number; month: number; day: number },
  hour: number,
  minute: number,
  timeZone: string,
  accept: (year: number, month: number, day: number) => boolean = () => true,
  days = 400
): { year: number; month: number; day: number; check: WallTimeCheck } | null {
  const start = Date.UTC(from.year, from.month - 1, from.day);
  let previousOffset: number | null = null;
  for (let i = 0; i <= days; i++) {
    const d = new Date(start + i * 86400000);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth() + 1;
    const day = d.getUTCDate();
    // Only days whose offset differs from the day before can clash: a cheap
    // pre-check (one formatter call per day) before the full check.
    const noon = Date.UTC(year, month - 1, day, 12);
    const offset = zoneOffsetMs(noon, timeZone);
    const changed = previousOffset !== null && offset !== previousOffset;
    previousOffset = offset;
    if (!changed && i > 0) {
      continue;
    }
    for (const candidate of [d, new Date(start + (i - 1) * 86400000)]) {
      const y = candidate.getUTCFullYear();
      const m = candidate.getUTCMonth() + 1;
      const dd = candidate.getUTCDate();
      if (candidate.getTime() < start || !accept(y, m, dd)) {
        continue;
      }
      const check = checkWallTime(
        { year: y, month: m, day: dd, hour, minute },
        timeZone
      );
      if (check.kind !== 'ok') {
        return { year: y, month: m, day: dd, check };
      }
    }
  }
  return null;
}
