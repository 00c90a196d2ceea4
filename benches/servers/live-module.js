// The `live()` module both RPC benchmark servers run, through svelte-realtime's own `message`
// hook (`handleRpc`): a stream the clients subscribe to first, and an echo call.
import { live, registerModule } from '../../lib/server/index.js';

registerModule('bench', {
  feed: live.stream('bench:feed', () => []),
  echo: live((ctx, value) => value),
});

export { message, close } from '../../lib/server/index.js';
