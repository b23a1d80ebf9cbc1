// Sign in with an API key. The key is checked against the server before it is
// kept (in sessionStorage, for this tab only).

import { field, h, replace, setFieldError } from "../dom.js";
import { SignInRefused, signIn } from "../session.js";

export function render(main, { onSignedIn }) {
  const keyInput = h("input", {
    type: "password",
    name: "api-key",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "osk_…",
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  // method=post: were the script ever bypassed, the key would go in a request
  // body, never in a URL. The submit is handled here and sends nothing itself.
  const form = h(
    "form",
    { class: "card signin", method: "post", novalidate: true, on: { submit: onSubmit } },
    h("h1", {}, "Sign in to Open Spanner"),
    h("p", {}, "Use an API key with the read scope to look around, or the admin scope to also make changes."),
    field("API key", keyInput, {
      hint: "Kept in this browser tab only, and forgotten when you sign out or close the tab.",
    }),
    h("div", { class: "actions" }, submit),
  );

  async function onSubmit(event) {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) {
      setFieldError(keyInput, "Enter an API key.");
      keyInput.focus();
      return;
    }
    setFieldError(keyInput, null);
    submit.disabled = true;
    submit.textContent = "Checking…";
    try {
      await signIn(key);
      keyInput.value = "";
      onSignedIn();
    } catch (error) {
      setFieldError(keyInput, error instanceof SignInRefused ? error.message : `Could not sign in: ${error.message}`);
      keyInput.select();
      keyInput.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  }

  replace(main, h("div", { class: "signin-wrap" }, form));
  keyInput.focus();
}
