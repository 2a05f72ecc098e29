/**
 * Data for the date-translation example: human-written dates in many formats
 * ("24 November 2026", "Nov 24, 2026", "11/24/26", "Tuesday 24th of November
 * 2026", ...) paired with their ISO form "2026-11-24", and the character
 * vocabularies that turn them into tensors.
 *
 * Plain TypeScript with no Node imports: the browser demo uses it too.
 */

/** A small seeded generator (mulberry32): the same seed gives the same data. */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const MONTHS = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];
export const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Years the generator draws from; two-digit years pivot at 50 (50-99 → 19xx). */
export const FIRST_YEAR = 1950;
export const LAST_YEAR = 2049;

/** Longest input, in characters (longer inputs are cut). */
export const MAX_INPUT = 36;
/** The output is always "YYYY-MM-DD". */
export const OUTPUT_LENGTH = 10;

/** Input characters; index 0 is padding, 1 stands for any unknown character. */
export const INPUT_CHARS = ['\0', '?', ...' ,./-0123456789abcdefghijklmnopqrstuvwxyz'];
/** Output characters. */
export const OUTPUT_CHARS = [...'0123456789-'];

const inputIndex = new Map(INPUT_CHARS.map((c, i) => [c, i]));

const pad2 = (n: number): string => String(n).padStart(2, '0');

function ordinal(d: number): string {
  if (d % 100 >= 11 && d % 100 <= 13) return `${d}th`;
  return `${d}${['th', 'st', 'nd', 'rd'][d % 10] ?? 'th'}`;
}

/** A calendar date. month is 1-12. */
export interface DateParts {
  year: number;
  month: number;
  day: number;
}

/** "YYYY-MM-DD". */
export function isoDate({ year, month, day }: DateParts): string {
  return `${year}-${pad2(month)}-${pad2(day)}`;
}

/** Day of the week, 0 = Sunday (proleptic Gregorian, UTC). */
export function weekday({ year, month, day }: DateParts): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}

/**
 * The human formats. Each takes a date and a random source (for choices
 * that do not change the meaning, such as case or a leading zero).
 */
export const FORMATS: Array<(d: DateParts, rng: () => number) => string> = [
  // 24 November 2026 / 24 Nov 2026
  (d, r) => `${d.day} ${monthName(d.month, r)} ${d.year}`,
  // November 24, 2026 / Nov 24, 2026 / Nov 24 2026
  (d, r) => `${monthName(d.month, r)} ${d.day}${r() < 0.7 ? ',' : ''} ${d.year}`,
  // 11/24/26 and 11/24/2026 (US)
  (d, r) => `${maybePad(d.month, r)}/${maybePad(d.day, r)}/${r() < 0.5 ? pad2(d.year % 100) : d.year}`,
  // 24.11.2026 (European)
  (d, r) => `${maybePad(d.day, r)}.${maybePad(d.month, r)}.${d.year}`,
  // Tuesday 24th of November 2026 / Tue, 24 Nov 2026
  (d, r) => `${WEEKDAYS[weekday(d)]} ${ordinal(d.day)} of ${monthName(d.month, r)} ${d.year}`,
  (d, r) => `${WEEKDAYS[weekday(d)].slice(0, 3)}, ${d.day} ${monthName(d.month, r)} ${d.year}`,
  // Tuesday, November 24, 2026
  (d, r) => `${WEEKDAYS[weekday(d)]}, ${monthName(d.month, r)} ${d.day}, ${d.year}`,
  // the 24th of November 2026
  (d, r) => `the ${ordinal(d.day)} of ${monthName(d.month, r)} ${d.year}`,
  // 2026-11-24 and 2026/11/24 (already ISO, or nearly)
  (d, r) => `${d.year}${r() < 0.5 ? '-' : '/'}${pad2(d.month)}${r() < 0.5 ? '-' : '/'}${pad2(d.day)}`,
  // 24-Nov-26
  (d, r) => `${pad2(d.day)}-${MONTHS[d.month - 1].slice(0, 3)}-${r() < 0.5 ? pad2(d.year % 100) : d.year}`,
  // November 24th, 2026
  (d, r) => `${monthName(d.month, r)} ${ordinal(d.day)}, ${d.year}`,
];

function monthName(m: number, r: () => number): string {
  const full = MONTHS[m - 1];
  return r() < 0.5 ? full : full.slice(0, 3);
}

function maybePad(n: number, r: () => number): string {
  return r() < 0.5 ? pad2(n) : String(n);
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A uniformly random date between FIRST_YEAR and LAST_YEAR. */
export function randomDate(rng: () => number): DateParts {
  const year = FIRST_YEAR + Math.floor(rng() * (LAST_YEAR - FIRST_YEAR + 1));
  const month = 1 + Math.floor(rng() * 12);
  const day = 1 + Math.floor(rng() * daysIn(year, month));
  return { year, month, day };
}

/** One example: a human-written date and its ISO form. */
export interface DatePair {
  human: string;
  iso: string;
}

/** `n` random pairs, in random formats and letter case, from `seed`. */
export function generatePairs(n: number, seed: number): DatePair[] {
  const rng = makeRng(seed);
  const pairs: DatePair[] = [];
  for (let i = 0; i < n; i++) {
    const d = randomDate(rng);
    const format = FORMATS[Math.floor(rng() * FORMATS.length)];
    let human = format(d, rng);
    const c = rng();
    if (c < 0.15) human = human.toLowerCase();
    else if (c < 0.2) human = human.toUpperCase();
    pairs.push({ human, iso: isoDate(d) });
  }
  return pairs;
}

/** Input character ids of a human date: lower-cased, cut to MAX_INPUT, padded with 0. */
export function encodeInput(text: string): number[] {
  const ids = new Array<number>(MAX_INPUT).fill(0);
  const chars = [...text.toLowerCase().trim()].slice(0, MAX_INPUT);
  chars.forEach((c, i) => {
    ids[i] = inputIndex.get(c) ?? 1;
  });
  return ids;
}

/** The characters of the input as the model sees them (for heatmap labels). */
export function inputLabels(text: string): string[] {
  return [...text.toLowerCase().trim()].slice(0, MAX_INPUT);
}

/** Output character ids of "YYYY-MM-DD". */
export function encodeOutput(iso: string): number[] {
  return [...iso].map((c) => OUTPUT_CHARS.indexOf(c));
}

/** The string of output ids. */
export function decodeOutput(ids: ArrayLike<number>): string {
  return Array.from(ids, (i) => OUTPUT_CHARS[i] ?? '?').join('');
}
