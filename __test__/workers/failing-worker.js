// A worker that throws at startup: always (`workerData.fail === 'always'`), or only the first
// time (it leaves a marker file at `workerData.marker`).
import { existsSync, writeFileSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { serve } from '../../lib/runtime/index.js';
import { appHooks } from './app.js';

if (workerData.fail === 'always') throw new Error('broken worker');
if (!existsSync(workerData.marker)) {
  writeFileSync(workerData.marker, 'started once');
  throw new Error('first start fails');
}
await serve({ attach: true, hooks: appHooks(), log: { info() {}, warn() {}, error() {} } });
