import assert from 'node:assert/strict';

import { formatAbsolute, formatDuration, formatRelative } from '../time';

describe('formatRelative', () => {
  const now = new Date('2025-01-15T09:00:00Z');
  it('speaks in the nearest unit, future and past', () => {
    assert.equal(
      formatRelative('2025-01-15T09:05:00Z', now, 'en'),
      'in 5 minutes'
    );
    assert.equal(
      formatRelative('2025-01-15T07:00:00Z', now, 'en'),
      '2 hours ago'
    );
    assert.equal(formatRelative('2025-01-16T09:00:00Z', now, 'en'), 'tomorrow');
    assert.equal(
      formatRelative('2025-01-15T09:00:10Z', now, 'en'),
      'in 10 seconds'
    );
  });
  it('is empty for nothing or garbage', () => {
    assert.equal(formatRelative(null, now), '');
    assert.equal(formatRelative('nope', now), '');
  });
});

describe('formatAbsolute', () => {
  it('shows the instant in the given zone', () => {
    const text = formatAbsolute(
      '2030-01-15T07:30:00Z',
      'en-GB',
      'Europe/Paris'
    );
    assert.match(text, /15 Jan 2030/);
    assert.match(text, /08:30/);
  });

  it('writes what toLocaleString writes, per zone, locale and seconds', () => {
    const iso = '2030-07-15T07:30:45Z';
    for (const [locale, zone, withSeconds] of [
      ['en-GB', 'Europe/Paris', false],
      ['en-GB', 'America/New_York', false],
      ['en-US', 'Asia/Tokyo', true],
      ['fr-FR', 'Europe/Paris', true],
      ['en-GB', 'Europe/Paris', true]
    ] as [string, string, boolean][]) {
      const expected = new Date(iso).toLocaleString(locale, {
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        second: withSeconds ? '2-digit' : undefined,
        timeZoneName: 'short',
        timeZone: zone
      });
      // Twice: the second call goes through the cached formatter.
      assert.equal(formatAbsolute(iso, locale, zone, withSeconds), expected);
      assert.equal(formatAbsolute(iso, locale, zone, withSeconds), expected);
    }
    assert.match(
      formatAbsolute(iso, 'en-GB', 'Europe/Paris', true),
      /09:30:45/
    );
    assert.match(formatAbsolute(iso, 'en-GB', 'Asia/Tokyo'), /16:30/);
  });
});

describe('formatDuration', () => {
  it('is short and readable', () => {
    assert.equal(formatDuration(0.42), '0.4 s');
    assert.equal(formatDuration(42), '42 s');
    assert.equal(formatDuration(75), '1 min 15 s');
    assert.equal(formatDuration(120), '2 min');
    assert.equal(formatDuration(3725), '1 h 2 min');
    assert.equal(formatDuration(null), '');
  });
});
