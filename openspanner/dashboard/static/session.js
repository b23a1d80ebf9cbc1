// Who is signed in: the key's id and scope, found when signing in (GET
// /v1/session names both), so pages hide what the API would refuse anyway.
// A write later refused with 403 also makes the session read-only (api.js).

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

async function askScope(key) {
  const answer = await api("GET", "/v1/session", { key });
  return { keyId: answer.key_id, scope: answer.scope };
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
