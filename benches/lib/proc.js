// What the Node benchmark drivers share: the load generator's build, child processes whose
// output lines can be awaited (lines seen before the wait count too), CPU time from /proc,
// medians.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Builds crates/realtime-loadgen (release) and returns its path. */
export function buildLoadgen() {
  const result = spawnSync('cargo', ['build', '--release', '-q', '-p', 'realtime-loadgen'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(1);
  return join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'release', 'realtime-loadgen');
}

/**
 * A child process (stdin piped). `proc.line(predicate)` resolves with the first line of its
 * output matching, including lines printed before the call (each line is taken once);
 * `proc.exited` resolves at exit. `stderr: 'pipe'` reads stderr lines too.
 */
export function child(command, argv, { env = {}, cwd = root, stderr = 'inherit' } = {}) {
  const proc = spawn(command, argv, { cwd, stdio: ['pipe', 'pipe', stderr], env: { ...process.env, ...env } });
  const lines = [];
  const waiters = [];
  let buffer = '';
  const onData = (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const waiter = waiters.findIndex((w) => w.predicate(line));
      if (waiter === -1) {
        lines.push(line);
        continue;
      }
      const [w] = waiters.splice(waiter, 1);
      clearTimeout(w.timer);
      w.resolve(line);
    }
  };
  proc.stdout.on('data', onData);
  proc.stderr?.on('data', onData);
  proc.line = (predicate, timeout = 120_000) =>
    new Promise((resolve, reject) => {
      const seen = lines.findIndex(predicate);
      if (seen !== -1) return resolve(lines.splice(seen, 1)[0]);
      const w = { predicate, resolve };
      w.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`${command}: no matching line in ${timeout} ms; output:\n${lines.join('\n')}`));
      }, timeout);
      waiters.push(w);
    });
  proc.exited = new Promise((resolve) => proc.once('exit', resolve));
  return proc;
}

/** utime + stime of a process, in clock ticks (100 per second). */
export function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

export const TICKS_PER_SECOND = 100;

/**
 * CPU time of a process in seconds, with nanosecond resolution: the sum of its threads'
 * run time (`/proc/<pid>/task/<tid>/schedstat`, first field). `cpuTicks` counts in 10 ms
 * ticks, too coarse for a fan-out burst of ~0.2 s. Threads that exited are not counted (the
 * benchmark servers keep theirs).
 */
export function cpuSeconds(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns / 1e9;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
