import { threadId } from 'node:worker_threads';
import { json } from '@sveltejs/kit';

/**
 * Who the server thinks you are: address (ADDRESS_HEADER aware), whether a platform is there,
 * and which JavaScript thread answered (CLUSTER_WORKERS).
 */
export function GET({ getClientAddress, platform, url }) {
  return json({ address: getClientAddress(), origin: url.origin, platform: typeof platform?.publish === 'function', thread: threadId });
}

/** Echoes the size of the body (for BODY_SIZE_LIMIT checks). */
export async function POST({ request }) {
  const body = await request.arrayBuffer();
  return json({ bytes: body.byteLength });
}
