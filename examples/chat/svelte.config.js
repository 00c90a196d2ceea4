import adapter from 'svelte-realtime/adapter';

export default {
  kit: {
    adapter: adapter({ websocket: true }),
  },
};
