// A CLUSTER_WORKERS worker thread of `node build`: loads the same SvelteKit server, hooks and
// live modules as the main thread, and attaches to the main thread's native server
// (lib/runtime/workers.js).
import { workerData } from 'node:worker_threads';
import { start } from './start.js';

await start({ dir: workerData.dir, options: workerData.options });
