// A worker thread of benches/servers/native-rpc.js (JS_WORKERS > 1): the same hooks,
// attached to the main thread's server.
import { serve } from '../../lib/runtime/index.js';
import * as live from './live-module.js';
import { TOPIC } from './common.js';

await serve({ attach: true, hooks: { ...live, subscribe: (ws, topic) => topic === TOPIC } });
