import { json } from '@sveltejs/kit';

/** Who the server thinks you are: address (ADDRESS_HEADER aware) and whether a platform is there. */
export function GET({ getClientAddress, platform, url }) {
  return json({ address: getClientAddress(), origin: url.origin, platform: typeof platform?.publish === 'function' });
}

/** Echoes the size of the body (for BODY_SIZE_LIMIT checks). */
export async function POST({ request }) {
  const body = await request.arrayBuffer();
  return json({ bytes: body.byteLength });
}
