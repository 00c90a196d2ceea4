import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const runtimeUrl = pathToFileURL(join(import.meta.dirname, '..', 'lib', 'runtime', 'index.js')).href;

describe('a missing native build', () => {
  it('fails serve() with instructions instead of a bare module error', () => {
    const script = `import(${JSON.stringify(runtimeUrl)}).then((m) => m.serve({ port: 0 }))
      .then(() => console.log('STARTED'), (e) => console.log('ERROR ' + e.message))`;
    const result = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: '/nonexistent/svelte-realtime.node' },
      encoding: 'utf8',
    });
    expect(result.stdout).toContain('ERROR The svelte-realtime native addon is not built');
    expect(result.stdout).toContain('npm install-scripts approve svelte-realtime');
    expect(result.stdout).toContain('npx svelte-realtime-build');
    // The loader's own advice (delete node_modules, "npm has a bug") does not apply here.
    expect(result.stdout).not.toMatch(/npm has a bug|package-lock/);
    expect(result.stdout).toContain('Cause: ');
  });
});
