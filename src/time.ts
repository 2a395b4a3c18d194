/**
 * Display helpers for instants and durations, in the person's own zone and
 * locale. Import-free so it is unit-tested on its own.
 */

/** The browser's IANA zone, e.g. "Europe/Paris". */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['week', 7 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1]
];

/** The instant an ISO 8601 text names, or null for nothing or garbage. */
function parseInstant(iso: string | null | undefined): Date | null {
  const then = iso ? new Date(iso) : null;
  return then && !isNaN(then.getTime()) ? then : null;
}

/** "in 5 minutes", "2 hours ago". */
export function formatRelative(
  iso: string | null | undefined,
  now: Date = new Date(),
  locale?: string
): string {
  const then = parseInstant(iso);
  if (!then) {
    return '';
  }
  const seconds = Math.round((then.getTime() - now.getTime()) / 1000);
  const format = relativeFormat(locale);
  const abs = Math.abs(seconds);
  for (const [unit, size] of UNITS) {
    if (abs >= size || unit === 'second') {
      return format.format(Math.round(seconds / size), unit);
    }
  }
  return '';
}

/** "Jan 15, 2030, 09:30 CET", in the browser's zone unless told. */
export function formatAbsolute(
  iso: string | null | undefined,
  locale?: string,
  timeZone?: string,
  withSeconds = false
): string {
  const then = parseInstant(iso);
  if (!then) {
    return '';
  }
  return absoluteFormat(locale, timeZone, withSeconds).format(then);
}

/*
 * Formatters are cached: building an Intl formatter costs about a millisecond
 * (Date.toLocaleString with options builds one per call), and a list of
 * thousands of jobs formats two instants per job on every render.
 */
const absoluteFormats = new Map<string, Intl.DateTimeFormat>();
const relativeFormats = new Map<string, Intl.RelativeTimeFormat>();

function absoluteFormat(
  locale: string | undefined,
  timeZone: string | undefined,
  withSeconds: boolean
): Intl.DateTimeFormat {
  const key = `${locale ?? ''}|${timeZone ?? ''}|${withSeconds}`;
  let format = absoluteFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, {
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      second: withSeconds ? '2-digit' : undefined,
      timeZoneName: 'short',
      timeZone
    });
    absoluteFormats.set(key, format);
  }
  return format;
}

function relativeFormat(locale: string | undefined): Intl.RelativeTimeFormat {
  const key = locale ?? '';
  let format = relativeFormats.get(key);
  if (!format) {
    format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
    relativeFormats.set(key, format);
  }
  return format;
}

/**
 * The one way the Scheduler writes an instant: in the person's own zone and
 * locale, to the second, with the zone's name.
 */
export function formatTimestamp(iso: string | null | undefined): string {
  return formatAbsolute(iso, undefined, undefined, true);
}

/** 0.4 -> "0.4 s", 75 -> "1 min 15 s", 3725 -> "1 h 2 min". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || isNaN(seconds)) {
    return '';
  }
  if (seconds < 10) {
    return `${Math.round(seconds * 10) / 10} s`;
  }
  const whole = Math.round(seconds);
  if (whole < 60) {
    return `${whole} s`;
  }
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = whole % 60;
  if (hours > 0) {
    return `${hours} h ${minutes} min`;
  }
  return secs ? `${minutes} min ${secs} s` : `${minutes} min`;
}
