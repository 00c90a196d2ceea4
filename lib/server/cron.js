// `live.cron(schedule, topic, fn)`: run `fn` on a 5-field cron schedule and publish its
// result as a `set` event on `topic`.
//
// Standard cron semantics (the reference deviated, bug §9.17): fields are
// `minute hour day-of-month month day-of-week`; each is a list of `*`, `N`, `A-B`, with an
// optional `/step` (`*/5`, `10-50/10`, `5/15`); months and weekdays also take names
// (`jan`, `mon`); weekday 0 and 7 are Sunday; when both day fields are restricted a day
// matching either runs the job. Times are the server's local time. The scheduler wakes on
// minute boundaries, so a minute is never skipped or run twice.
//
// The platform comes from `setCronPlatform(platform)` or, failing that, the first RPC
// handled. Errors go to the `onCronError` handler, else to the log.

import { isMainThread, workerData } from 'node:worker_threads';

import { mark } from './meta.js';

const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

function parseValue(text, field, expr) {
  const lower = text.toLowerCase();
  const named = field.names?.indexOf(lower) ?? -1;
  if (named !== -1) return field.name === 'month' ? named + 1 : named;
  if (!/^\d+$/.test(text)) throw new SyntaxError(`cron "${expr}": "${text}" is not a valid ${field.name}`);
  const value = Number(text);
  if (value < field.min || value > field.max) {
    throw new SyntaxError(`cron "${expr}": ${field.name} ${value} is outside ${field.min}-${field.max}`);
  }
  return value;
}

/** The set of values one field allows, and whether it was `*`. */
function parseField(text, field, expr) {
  const values = new Set();
  for (const item of text.split(',')) {
    const [range, stepText, extra] = item.split('/');
    if (extra !== undefined || range === '') throw new SyntaxError(`cron "${expr}": bad ${field.name} "${item}"`);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new SyntaxError(`cron "${expr}": bad step in "${item}"`);
    let start;
    let end;
    if (range === '*') {
      start = field.min;
      end = field.max;
    } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      start = parseValue(a, field, expr);
      end = parseValue(b, field, expr);
      if (start > end) throw new SyntaxError(`cron "${expr}": range ${range} runs backwards`);
    } else {
      start = parseValue(range, field, expr);
      end = stepText === undefined ? start : field.max;
    }
    for (let v = start; v <= end; v += step) values.add(v);
  }
  if (field.name === 'day of week' && values.has(7)) values.add(0);
  return { values, any: text === '*' };
}

/**
 * Parses a 5-field expression; returns `matches(date)`. Throws a SyntaxError naming the
 * problem for anything else.
 */
export function parseCron(expr) {
  if (typeof expr !== 'string') throw new TypeError('cron schedule must be a string');
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5) {
    throw new SyntaxError(`cron "${expr}": expected 5 fields (minute hour day month weekday), got ${parts.length}`);
  }
  const [minute, hour, day, month, weekday] = parts.map((p, i) => parseField(p, FIELDS[i], expr));
  return (date) => {
    if (!minute.values.has(date.getMinutes()) || !hour.values.has(date.getHours())) return false;
    if (!month.values.has(date.getMonth() + 1)) return false;
    const dayOk = day.values.has(date.getDate());
    const weekdayOk = weekday.values.has(date.getDay());
    if (day.any && weekday.any) return true;
    if (day.any) return weekdayOk;
    if (weekday.any) return dayOk;
    return dayOk || weekdayOk;
  };
}

// ---- the scheduler -------------------------------------------------------------------

/** path → { matches, topic, fn } */
const jobs = new Map();
let platform = null;
let errorHandler = null;
let timer = null;

/** Captures the platform cron jobs publish with. */
export function setCronPlatform(p) {
  platform = p;
}

/** The platform, captured from the first RPC when none was set. */
export function captureCronPlatform(p) {
  if (!platform && jobs.size > 0) platform = p;
}

/** Receives `(path, error)` for failing cron jobs (and effects). */
export function onCronError(handler) {
  if (typeof handler !== 'function') throw new TypeError('onCronError(handler): handler must be a function');
  errorHandler = handler;
}

export function reportCronError(path, error) {
  try {
    if (errorHandler) errorHandler(path, error);
    else console.error(`[svelte-realtime] cron ${path} failed:`, error);
  } catch (handlerError) {
    console.error('[svelte-realtime] onCronError handler threw:', handlerError);
  }
}

async function runJob(path, job) {
  if (!platform) {
    console.warn(`[svelte-realtime] cron ${path} skipped: no platform yet (call setCronPlatform in your open hook)`);
    return;
  }
  try {
    const result = await job.fn();
    platform.publish(job.topic, 'set', result);
  } catch (error) {
    reportCronError(path, error);
  }
}

/** Runs the jobs due at `now` (exported for tests with fake timers). */
export function tickCron(now = new Date()) {
  for (const [path, job] of jobs) if (job.matches(now)) runJob(path, job);
}

/** A worker thread started by the runtime's `spawnWorkers` (lib/runtime/workers.js). */
const inSharedWorker = !isMainThread && Boolean(workerData?.['svelte-realtime:attach']);

function schedule() {
  if (timer || jobs.size === 0) return;
  // In a worker thread of a shared server the main thread runs the jobs: once per tick.
  if (inSharedWorker) return;
  const now = Date.now();
  const nextMinute = Math.floor(now / 60_000) * 60_000 + 60_000;
  timer = setTimeout(() => {
    timer = null;
    tickCron(new Date(nextMinute));
    schedule();
  }, nextMinute - now);
  timer.unref?.();
}

/** Adds a job (called when a module with a cron export is registered). */
export function addCronJob(path, meta) {
  jobs.set(path, { matches: meta.matches, topic: meta.topic, fn: meta.fn });
  schedule();
}

/** Whether a timer is armed for the jobs (tests). */
export function cronScheduled() {
  return timer !== null;
}

/** Removes every job (registry cleared: server-side HMR re-registers). */
export function clearCronJobs() {
  jobs.clear();
  clearTimeout(timer);
  timer = null;
}

/** `live.cron(schedule, topic, fn)`. */
export function cron(expr, topic, fn) {
  const matches = parseCron(expr);
  if (typeof topic !== 'string' || topic === '') throw new TypeError('live.cron: topic must be a non-empty string');
  if (typeof fn !== 'function') throw new TypeError('live.cron: fn must be a function');
  const run = () => fn();
  return mark(run, { kind: 'cron', schedule: expr, topic, matches, fn });
}
