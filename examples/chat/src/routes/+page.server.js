import { fail, redirect } from '@sveltejs/kit';
import { messages } from '$live/chat';

export async function load({ cookies, platform }) {
  const name = cookies.get('name');
  if (!name) return { name: null, messages: [] };
  // Server-side render the messages: no loading flash on first paint.
  return { name, messages: await messages.load(platform, { user: { id: name, name } }) };
}

export const actions = {
  signin: async ({ request, cookies }) => {
    const name = String((await request.formData()).get('name') ?? '').trim();
    if (!/^[\p{L}\p{N} _-]{1,24}$/u.test(name)) return fail(400, { error: 'Pick a name (letters, digits, up to 24)' });
    cookies.set('name', name, { path: '/', httpOnly: true, sameSite: 'lax', secure: false });
    redirect(303, '/');
  },
  signout: async ({ cookies }) => {
    cookies.delete('name', { path: '/' });
    redirect(303, '/');
  },
};
