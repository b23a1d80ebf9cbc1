// The one way pages call the API: same origin, the signed-in key as a bearer
// token, and every error turned into an ApiError from the API's error body
// `{"error": {"code", "message", "field"}}`.
//
// The key lives in sessionStorage only: it is gone when the tab closes, it is
// never put in a URL (so never in history, logs or a Referer) and never logged.

const KEY_ITEM = "openspanner.apiKey";

export function storedKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function storeKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
}

export class ApiError extends Error {
  constructor(status, code, message, field, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
    this.body = body;
  }

  // An endpoint this server does not have yet (no route), as opposed to a
  // missing meter, which is also 404 but names what was not found.
  get isMissingEndpoint() {
    return this.status === 404 && /no route for/.test(this.message);
  }

  // The message without the "invalid input: <field>: " lead, for showing beside
  // the field that is already named by its place.
  get fieldMessage() {
    let text = this.message.replace(/^invalid input: /, "");
    if (this.field && text.startsWith(`${this.field}: `)) text = text.slice(this.field.length + 2);
    return text;
  }
}

// Called when a signed-in key stops working (revoked, or the server restarted
// without it): app.js sends the user back to sign in.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

// Called when a change is refused for the key's scope (403 on a write): the
// dashboard then treats the key as read-only and hides what it cannot do.
let onForbiddenWrite = () => {};
export function setForbiddenWriteHandler(handler) {
  onForbiddenWrite = handler;
}

// api("GET", "/v1/meters", {query: {limit: 100}}) -> the parsed JSON (null for 204).
// Options: body (sent as JSON), query (object; arrays repeat the parameter),
// key (instead of the stored one, for signing in), text (answer the raw text).
export async function api(method, path, { body, query, key, text = false, signal } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    for (const item of [value].flat()) {
      if (item !== undefined && item !== null && item !== "") url.searchParams.append(name, String(item));
    }
  }
  const token = key ?? storedKey();
  const headers = { Accept: text ? "text/csv, application/json" : "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      // Nothing of the key or the page goes anywhere else.
      credentials: "omit",
      referrerPolicy: "no-referrer",
      cache: "no-store",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network", "The server could not be reached. Is it running?", null, null);
  }
  const raw = await response.text();
  if (!response.ok) {
    let parsed = null;
    try {
      parsed = raw ? JSON.parse(raw) : null;
    } catch {
      parsed = null;
    }
    const error = parsed && parsed.error ? parsed.error : {};
    const failure = new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `The server answered ${response.status} ${response.statusText}`.trim(),
      error.field,
      parsed,
    );
    if (response.status === 401 && key === undefined) onUnauthorized(failure);
    if (response.status === 403 && key === undefined && method !== "GET") onForbiddenWrite(failure);
    throw failure;
  }
  if (text) return raw;
  return raw ? JSON.parse(raw) : null;
}

// Every page of a listing that pages with `next_cursor`.
export async function allPages(path, query = {}) {
  const items = [];
  let cursor = "";
  do {
    const page = await api("GET", path, { query: { ...query, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor || "";
  } while (cursor);
  return items;
}

// The meter path segment: names and ids are URL-safe, but encode anyway.
export function meterPath(name, rest = "") {
  return `/v1/meters/${encodeURIComponent(name)}${rest}`;
}
