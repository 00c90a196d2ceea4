// The demo behind `npm run demo`: a live counter shared by every open tab.
//
// It uses only the native runtime (`svelte-realtime/runtime`): a hooks object like a
// `hooks.ws.js` file, and a fetch handler serving one page. Open two tabs and click.

import { readFileSync } from 'node:fs';
import { serve } from 'svelte-realtime/runtime';

const page = readFileSync(new URL('./index.html', import.meta.url));
let count = 0;

const hooks = {
  // Clients may subscribe to the two public topics of this demo and nothing else.
  subscribe: (ws, topic) => topic === 'counter' || topic === 'online',

  open(ws, { platform }) {
    // The newcomer gets the current values directly (it subscribes right after opening);
    // everyone else hears about one more tab.
    platform.send(ws, 'counter', 'set', count);
    platform.send(ws, 'online', 'set', platform.connections);
    platform.topic('online').set(platform.connections);
  },

  message(ws, { data, platform }) {
    let action;
    try {
      action = JSON.parse(Buffer.from(data).toString()).action;
    } catch {
      return;
    }
    if (action === 'increment') count += 1;
    else if (action === 'decrement') count -= 1;
    else if (action === 'reset') count = 0;
    else return;
    platform.topic('counter').set(count);
  },

  close(ws, { platform }) {
    platform.topic('online').set(platform.connections);
  },
};

const server = await serve({
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST ?? '0.0.0.0',
  hooks,
  fetch: (request) => {
    const { pathname } = new URL(request.url);
    if (pathname !== '/') return new Response('Not Found', { status: 404 });
    return new Response(page, { headers: { 'content-type': 'text/html; charset=utf-8' } });
  },
});

console.log(`svelte-realtime demo: open ${server.url} in two tabs (Ctrl+C stops it)`);
