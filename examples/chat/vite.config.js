import { sveltekit } from '@sveltejs/kit/vite';
import realtime from 'svelte-realtime/vite';

export default {
  plugins: [sveltekit(), realtime()],
};
