// The console's only way to the service: the public v1 API, same origin, with the session
// cookie. Every request carries X-Requested-With: pictor-console, which the service
// requires of cookie-authenticated changes (a cross-site page cannot send it).

export const CONSOLE_HEADER = ['X-Requested-With', 'pictor-console'];

// ApiError is a failed request: the RFC 9457 problem the service answered with.
export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem || {};
    super(p.detail || p.title || `request failed with status ${status}`);
    this.status = status;
    this.type = p.type || '';
    this.title = p.title || '';
    this.problem = p;
  }
  // slug is the stable part of the problem type ("not-found").
  get slug() { return this.type.replace(/^urn:pictor:problem:/, ''); }
}

// listeners of 401 answers (the session ended).
const unauthorized = new Set();
export function onUnauthorized(fn) { unauthorized.add(fn); return () => unauthorized.delete(fn); }

// request sends one API call. body may be a FormData (sent as multipart) or any JSON value.
// It resolves to the parsed JSON answer (null for 204) and rejects with ApiError.
export async function request(method, path, body, { signal, quiet401 = false } = {}) {
  const headers = new Headers([CONSOLE_HEADER, ['Accept', 'application/json']]);
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers.set('Content-Type', 'application/json');
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { title: 'Network error', detail: 'the service could not be reached; check the connection and try again' });
  }
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const e = new ApiError(res.status, data);
    if (res.status === 429) e.retryAfter = Number(res.headers.get('Retry-After')) || 1;
    if (res.status === 401 && !quiet401) unauthorized.forEach((fn) => fn(e));
    throw e;
  }
  return data;
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body === undefined ? {} : body, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

// enc escapes one path segment.
export const enc = encodeURIComponent;
