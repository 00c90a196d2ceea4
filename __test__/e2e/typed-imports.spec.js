// typedImports: `$live/...` imports typed from the server module, ctx stripped, results
// awaited and unwrapped, checked by tsc against the demo's live module.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDemo, copyDemo } from './demo.js';

const require = createRequire(import.meta.url);

const CHECK = `import { send, messages, presence, moveCursor } from '$live/chat';

export async function check() {
  const sent = await send('hi');
  const id: number = sent.id;
  const text: string = sent.text;
  // @ts-expect-error the result is typed: id is a number
  const wrong: string = sent.id;
  // @ts-expect-error ctx is stripped: send takes (text) only
  await send('a', 'b');
  await moveCursor(1, 2);
  // @ts-expect-error the page is not a module of the demo
  await messages.notAMethod();
  const more: boolean = await messages.loadMore();
  const unsubscribe = presence.subscribe((value) => void value);
  unsubscribe();
  return [id, text, wrong, more];
}
`;

describe('typedImports', () => {
  it('tsc checks $live imports against the server module', () => {
    buildDemo();
    const dir = copyDemo();
    const vite = join(dir, 'node_modules', 'vite', 'bin', 'vite.js');
    const build = spawnSync(process.execPath, [vite, 'build'], { cwd: dir, encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    expect(existsSync(join(dir, 'src', 'live', '$types.d.ts'))).toBe(true);
    writeFileSync(join(dir, 'src', 'typecheck.ts'), CHECK);
    writeFileSync(
      join(dir, 'tsconfig.check.json'),
      JSON.stringify({
        extends: './.svelte-kit/tsconfig.json',
        compilerOptions: { noEmit: true, strict: true, allowJs: true, checkJs: false, skipLibCheck: true },
        include: ['src/typecheck.ts', 'src/live/$types.d.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.check.json'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  }, 120_000);
});
