// The DevTools overlay (dev only; the Vite plugin imports it from `$live/...` stubs under
// `vite dev` and never in builds). Ctrl+Shift+L toggles a panel with the connection status,
// the active streams with their values, and the recent RPCs with timings. The client
// reports to `globalThis.__svelteRealtimeDevtools`; without this module that is undefined
// and costs one property read per event.

import { status } from '../client/connection.js';

const MAX_CALLS = 100;

function createDevtools() {
  const calls = [];
  const streams = new Map();
  let panel = null;
  let connection = 'closed';
  let reconnects = 0;
  let scheduled = false;

  const render = () => {
    scheduled = false;
    if (!panel || panel.hidden) return;
    const streamRows = [...streams.values()]
      .map((s) => `<tr><td>${esc(s.path)}</td><td>${esc(s.topic ?? '')}</td><td><code>${esc(preview(s.value))}</code></td></tr>`)
      .join('');
    const callRows = calls
      .slice()
      .reverse()
      .map((c) => `<tr><td>${esc(c.path)}</td><td>${c.ms === null ? '…' : `${c.ms} ms`}</td><td>${c.ok === null ? '' : c.ok ? 'ok' : esc(c.code)}</td></tr>`)
      .join('');
    panel.shadowRoot.querySelector('#body').innerHTML =
      `<p>connection: <b>${connection}</b> · reconnects: ${reconnects}</p>` +
      `<h4>streams (${streams.size})</h4><table>${streamRows}</table>` +
      `<h4>rpc (${calls.length})</h4><table>${callRows}</table>`;
  };
  const update = () => {
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(render);
    }
  };

  function mount() {
    panel = document.createElement('svelte-realtime-devtools');
    panel.hidden = true;
    const shadow = panel.attachShadow({ mode: 'open' });
    shadow.innerHTML = `<style>
      :host { position: fixed; right: 8px; bottom: 8px; width: 480px; max-height: 60vh; overflow: auto;
        z-index: 2147483647; background: #111; color: #eee; font: 12px/1.4 ui-monospace, monospace;
        border-radius: 6px; padding: 8px 10px; box-shadow: 0 4px 24px #0008; }
      h3, h4 { margin: 6px 0 4px; } table { width: 100%; border-collapse: collapse; }
      td { border-top: 1px solid #333; padding: 2px 4px; vertical-align: top; word-break: break-all; }
      code { color: #9cf; }
    </style><h3>svelte-realtime</h3><div id="body"></div>`;
    document.body.appendChild(panel);
    window.addEventListener('keydown', (event) => {
      if (event.ctrlKey && event.shiftKey && (event.key === 'L' || event.key === 'l')) {
        panel.hidden = !panel.hidden;
        render();
      }
    });
  }

  let previous = null;
  status.subscribe((value) => {
    if (value === 'open' && previous === 'closed') reconnects += 1;
    connection = value;
    previous = value;
    update();
  });

  if (typeof document !== 'undefined') {
    if (document.body) mount();
    else addEventListener('DOMContentLoaded', mount, { once: true });
  }

  return {
    callStart(path, id) {
      calls.push({ path, id, start: performance.now(), ms: null, ok: null, code: '' });
      if (calls.length > MAX_CALLS) calls.shift();
      update();
    },
    callEnd(id, ok, code) {
      const call = calls.find((c) => c.id === id);
      if (call) {
        call.ms = Math.round(performance.now() - call.start);
        call.ok = ok;
        call.code = code ?? '';
      }
      update();
    },
    stream(key, info) {
      if (info === null) streams.delete(key);
      else streams.set(key, { ...streams.get(key), ...info });
      update();
    },
    /** For tests and curious developers. */
    snapshot: () => ({ connection, reconnects, calls: calls.slice(), streams: [...streams.values()] }),
    toggle() {
      if (panel) {
        panel.hidden = !panel.hidden;
        render();
      }
    },
  };
}

function esc(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

function preview(value) {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? 'undefined' : json.length > 160 ? `${json.slice(0, 157)}...` : json;
  } catch {
    return String(value);
  }
}

globalThis.__svelteRealtimeDevtools ??= createDevtools();
