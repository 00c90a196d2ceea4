// The runtime suites once more with the sockets on engine threads (`engine: 'threads'`):
// `npm test` runs every suite on the default engine (inline on a 2-core machine), then these
// on the other one. The browser end-to-end and type suites do not depend on the engine.
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

export default mergeConfig(
  base,
  defineConfig({
    test: {
      env: { SR_TEST_ENGINE: 'threads' },
      exclude: ['**/node_modules/**', '__test__/e2e/**', '__test__/types/**', '__test__/types.spec.js', '__test__/vite-plugin.spec.js'],
    },
  }),
);
