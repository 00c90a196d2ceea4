// Forgetting `realtime()` in the Vite config: the errors must name the plugin (issue 8).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import adapter from '../lib/adapter/index.js';

const adapterUrl = pathToFileURL(join(import.meta.dirname, '..', 'lib', 'adapter', 'index.js')).href;

describe('a Vite config without the svelte-realtime plugin', () => {
  it('vite dev: the adapter says to add realtime() when SvelteKit starts emulating', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    adapter().emulate();
    const said = error.mock.calls.map((c) => String(c[0])).join('\n');
    error.mockRestore();
    expect(said).toContain("Add realtime() from 'svelte-realtime/vite' to your Vite plugins");
  });

  it('vite build: a failed build ends with the same hint; other tools reading the config hear nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'srt-vite-'));
    const bin = join(dir, 'node_modules', 'vite', 'bin');
    mkdirSync(bin, { recursive: true });
    // Stands in for the Vite CLI: loads a config that uses the adapter, then fails to resolve $live.
    const script = `import adapter from ${JSON.stringify(adapterUrl)};\nadapter();\nconsole.error('Rollup failed to resolve import "$live/chat"');\nprocess.exit(1);\n`;
    writeFileSync(join(bin, 'vite.js'), script);
    const vite = spawnSync(process.execPath, [join(bin, 'vite.js'), 'build'], { encoding: 'utf8' });
    expect(vite.status).toBe(1);
    expect(vite.stderr).toContain("Add realtime() from 'svelte-realtime/vite'");
    writeFileSync(join(dir, 'svelte-check.js'), script);
    const other = spawnSync(process.execPath, [join(dir, 'svelte-check.js')], { encoding: 'utf8' });
    expect(other.stderr).not.toContain('realtime()');
  });
});
