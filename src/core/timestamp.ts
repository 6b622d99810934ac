/**
 * The time stored in an image (FAT entries, tar mtime, container headers):
 * checked once, here, for every format. FAT is the narrowest store (every
 * image has a FAT volume): years 1980 to 2107, so that is the range; times
 * are whole seconds (FAT keeps even seconds, the containers keep them all).
 */
import { fail } from './errors';
import { FAT_EPOCH, FAT_LAST_TIME } from './fat/index';

/** 1980-01-01T00:00:00Z, the earliest time FAT can store (and the default). */
export const MIN_TIMESTAMP = FAT_EPOCH;
/** 2107-12-31T23:59:59Z, the end of the last year FAT can store (it keeps :58, its last even second). */
export const MAX_TIMESTAMP = FAT_LAST_TIME + 1;

const RANGE = '1980-01-01 to 2107-12-31 (UTC), the years a FAT file system can store';

/** ISO date as UTC: "2024-01-31T12:00:00Z" for 1706702400. */
export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * Throws BAD_TIMESTAMP unless `seconds` is a whole number of seconds in the
 * range FAT stores. `label` names it in the message ("The timestamp 5").
 */
export function checkTimestamp(seconds: number, label = `The timestamp ${seconds}`): number {
  if (!Number.isInteger(seconds)) {
    fail('BAD_TIMESTAMP', `${label} is not a whole number of seconds; give whole seconds.`);
  }
  if (seconds < MIN_TIMESTAMP || seconds > MAX_TIMESTAMP) {
    const when = Math.abs(seconds) < 8.64e12 ? ` (${isoTime(seconds)})` : '';
    fail(
      'BAD_TIMESTAMP',
      `${label}${when} is outside ${RANGE}; give a time from ${MIN_TIMESTAMP} to ${MAX_TIMESTAMP} seconds since 1970.`,
    );
  }
  return seconds;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

function daysInMonth(year: number, month: number): number {
  return [
    31,
    year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28,
    31,
    30,
    31,
    30,
    31,
    31,
    30,
    31,
    30,
    31,
  ][month - 1];
}

/**
 * A time as people and build systems write it: seconds since 1970 (digits
 * only), or an ISO 8601 date "YYYY-MM-DD", optionally with "THH:MM[:SS]" and
 * a zone ("Z" or "+HH:MM"; without one it is UTC, so that the result does
 * not depend on where it runs). Real calendar dates only (2024-02-30 is
 * refused, not moved to March), whole seconds, in the FAT range.
 * `what` names the source in messages: "--timestamp", "SOURCE_DATE_EPOCH".
 */
export function parseTimestamp(text: string, what = 'The timestamp'): number {
  const t = text.trim();
  const label = `${what} ${JSON.stringify(text)}`;
  if (/^\d+$/.test(t)) return checkTimestamp(Number(t), label);
  if (/^[+-]?\d+(\.\d*)?$/.test(t)) {
    if (t.startsWith('-')) {
      fail('BAD_TIMESTAMP', `${label} is before 1970; give a time within ${RANGE}.`);
    }
    fail('BAD_TIMESTAMP', `${label} is not a whole number of seconds since 1970; give whole seconds, digits only.`);
  }
  const m = ISO.exec(t);
  if (!m) {
    fail(
      'BAD_TIMESTAMP',
      `${label} is not a time: give seconds since 1970 (e.g. 1700000000) or an ISO date (e.g. 2024-01-31 or 2024-01-31T12:00:00Z), within ${RANGE}.`,
    );
  }
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((x) => (x === undefined ? 0 : Number(x)));
  if (m[7] !== undefined && Number(m[7]) !== 0) {
    fail('BAD_TIMESTAMP', `${label} has a fraction of a second; images store whole seconds, so leave it out.`);
  }
  if (month < 1 || month > 12) {
    fail('BAD_TIMESTAMP', `${label} is not a date: there is no month ${month}.`);
  }
  if (day < 1 || day > daysInMonth(year, month)) {
    fail('BAD_TIMESTAMP', `${label} is not a date: month ${month} of ${year} has ${daysInMonth(year, month)} days.`);
  }
  if (hour > 23 || minute > 59 || second > 59) {
    fail('BAD_TIMESTAMP', `${label} is not a time of day: hours go to 23, minutes and seconds to 59.`);
  }
  const zone = m[8];
  let offset = 0;
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
    const zh = Number(z[2]);
    const zm = Number(z[3]);
    if (zh > 23 || zm > 59) {
      fail('BAD_TIMESTAMP', `${label} has the time zone ${zone}, which is not one (hours to 23, minutes to 59).`);
    }
    offset = (z[1] === '-' ? -1 : 1) * (zh * 60 + zm) * 60;
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second);
  return checkTimestamp(d.getTime() / 1000 - offset, label);
}
