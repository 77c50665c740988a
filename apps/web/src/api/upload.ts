import { toProblemError, type components } from '@limen/sdk';
import { accessToken, refresh } from '../auth/session';

export type Image = components['schemas']['ImageDto'];

/** The connection failed before the api answered (the page says so in its own words). */
export class UploadConnectionError extends Error {}

/**
 * POST /api/v1/images?name=… with the file as the raw body. XMLHttpRequest, not fetch: only it
 * reports upload progress (`onProgress(sent, total)`). The bearer token comes from the in-memory
 * session like every other call; a 401 (token expired mid-upload) refreshes once and sends again.
 */
export async function uploadImage(
  file: File,
  name: string,
  onProgress: (sent: number, total: number) => void,
  signal?: AbortSignal,
): Promise<Image> {
  for (let attempt = 0; ; attempt++) {
    const { response, body } = await send(file, name, onProgress, signal);
    if (response.status === 401 && attempt === 0 && (await refresh())) continue;
    if (response.ok) return body as Image;
    // The same error every other call throws (ApiError), with the api's problem+json.
    throw toProblemError(body, response);
  }
}

function send(
  file: File,
  name: string,
  onProgress: (sent: number, total: number) => void,
  signal?: AbortSignal,
): Promise<{ response: Response; body: unknown }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/images?${new URLSearchParams({ name })}`);
    const token = accessToken();
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.responseType = 'json';
    // `load` is the upload's last progress event (all bytes sent); `progress` the ones before it.
    const progress = (event: ProgressEvent) =>
      onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.upload.addEventListener('progress', progress);
    xhr.upload.addEventListener('load', progress);
    xhr.addEventListener('load', () => {
      // Only what toProblemError reads: status and request id (the body is parsed already).
      const headers = { 'X-Request-Id': xhr.getResponseHeader('X-Request-Id') ?? '' };
      const response = new Response(null, { status: xhr.status, statusText: xhr.statusText, headers });
      resolve({ response, body: xhr.response });
    });
    xhr.addEventListener('error', () => reject(new UploadConnectionError()));
    xhr.addEventListener('abort', () => reject(new DOMException('The upload was cancelled', 'AbortError')));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}
