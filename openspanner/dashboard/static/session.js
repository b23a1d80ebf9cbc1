// Who is signed in: the key's id and scope, found when signing in.
//
// GET /v1/session names both. On a server without that endpoint (404), the
// dashboard asks two harmless questions instead: listing one meter (refused
// for an ingest key) and creating a meter from an empty body, which an admin
// key gets refused as invalid (400, nothing created) and a read key as
// forbidden (403). A write later refused with 403 also makes the session
// read-only (api.js).

import { ApiError, api, forgetKey, storeKey, storedKey } from "./api.js";

export class SignInRefused extends Error {}

export const session = {
  keyId: null,
  scope: null,
  get signedIn() {
    return this.scope !== null;
  },
  get canWrite() {
    return this.scope === "admin";
  },
};

// `osk_<id>_<secret>` -> id; the bootstrap key from the environment has none.
function keyIdOf(key) {
  const match = /^osk_([^_]+)_/.exec(key);
  return match ? match[1] : null;
}

async function askScope(key) {
  try {
    const answer = await api("GET", "/v1/session", { key });
    return { keyId: answer.key_id || keyIdOf(key), scope: answer.scope };
  } catch (error) {
    if (!(error instanceof ApiError) || !error.isMissingEndpoint) throw error;
  }
  await api("GET", "/v1/meters", { key, query: { limit: 1 } });
  try {
    await api("POST", "/v1/meters", { key, body: {} });
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return { keyId: keyIdOf(key), scope: "read" };
    if (error instanceof ApiError && error.status === 400) return { keyId: keyIdOf(key), scope: "admin" };
    throw error;
  }
  // An empty meter accepted would be a server bug; say so rather than guess.
  throw new SignInRefused("The server answered unexpectedly while checking the key's scope.");
}

function explain(error) {
  if (error instanceof SignInRefused) return error;
  if (error instanceof ApiError && error.status === 401) {
    return new SignInRefused("This key was not accepted: it is unknown or has been revoked.");
  }
  if (error instanceof ApiError && error.status === 403) {
    return new SignInRefused(
      "This key has the ingest scope: it can record usage but not read it. Sign in with a read or admin key.",
    );
  }
  if (error instanceof ApiError) return new SignInRefused(`The server refused the key: ${error.message}`);
  return error;
}

// Check `key` and, if it may read, remember it for this tab.
export async function signIn(key) {
  let found;
  try {
    found = await askScope(key);
  } catch (error) {
    throw explain(error);
  }
  if (found.scope === "ingest") throw explain(new ApiError(403, "forbidden", "", null, null));
  storeKey(key);
  session.keyId = found.keyId;
  session.scope = found.scope;
  return session;
}

// On page load: the key of this tab, if one is stored and still works.
export async function resume() {
  const key = storedKey();
  if (!key) return null;
  try {
    return await signIn(key);
  } catch (error) {
    if (error instanceof SignInRefused) {
      signOut();
      return null;
    }
    throw error;
  }
}

export function signOut() {
  forgetKey();
  session.keyId = null;
  session.scope = null;
}

export function makeReadOnly() {
  if (session.scope === "admin") session.scope = "read";
}
