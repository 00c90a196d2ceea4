// `svelte-realtime/adapter/vite`: a no-op plugin, so a vite.config.js written for
// svelte-adapter-uws (`plugins: [sveltekit(), uws(), realtime()]`) works with only the
// package names changed. Everything it did lives in `svelte-realtime/vite`.

export default function uws() {
  return { name: 'svelte-realtime:adapter-compat' };
}
