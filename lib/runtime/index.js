// `svelte-realtime/runtime`: start the native HTTP/WebSocket server from JavaScript.
export { serve, RealtimeServer } from './server.js';
export { DEFAULTS } from './options.js';
export { BACKPRESSURE, SUCCESS, DROPPED } from './websocket.js';
export { workerAttachment } from './workers.js';
