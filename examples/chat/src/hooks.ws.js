// WebSocket hooks: who may connect, and the ready-made RPC handlers.
export { message, close } from 'svelte-realtime/server';
import { enableSignals } from 'svelte-realtime/server';

let connections = 0;

/** Signed-in users only: the name cookie set by the sign-in form. */
export function upgrade({ cookies }) {
  const name = cookies.name?.trim();
  if (!name) return false;
  connections += 1;
  return { id: name, name, sid: `${name}#${connections}` };
}

export function open(ws) {
  enableSignals(ws);
}
