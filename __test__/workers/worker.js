// A worker thread of the worker tests: the same app, attached to the main thread's server.
import { serve } from '../../lib/runtime/index.js';
import { appHooks } from './app.js';

await serve({ attach: true, hooks: appHooks(), log: { info() {}, warn() {}, error: console.error } });
