// The dashboard's entry point: the hash router, the navigation and the session.
//
// Routes are hash URLs (`#/meters/ai_tokens/usage`), so the server only serves
// static files. Each page is one module under pages/ exporting
// `render(main, ctx)`; it may return a function that stops what it started
// (timers, polling), called when the user leaves the page.

import { setForbiddenWriteHandler, setUnauthorizedHandler } from "./api.js";
import { errorState, h, notify, replace } from "./dom.js";
import * as alertForm from "./pages/alert_form.js";
import * as alertRule from "./pages/alert_rule.js";
import * as alerts from "./pages/alerts.js";
import * as apiKeys from "./pages/api_keys.js";
import * as deliveries from "./pages/deliveries.js";
import * as delivery from "./pages/delivery.js";
import * as destinations from "./pages/destinations.js";
import * as decisions from "./pages/decisions.js";
import * as entitlements from "./pages/entitlements.js";
import * as events from "./pages/events.js";
import * as exportsPage from "./pages/exports.js";
import * as ingest from "./pages/ingest.js";
import * as meterForm from "./pages/meter_form.js";
import * as meters from "./pages/meters.js";
import * as overview from "./pages/overview.js";
import * as plan from "./pages/plan.js";
import * as planForm from "./pages/plan_form.js";
import * as plans from "./pages/plans.js";
import * as signin from "./pages/signin.js";
import * as subject from "./pages/subject.js";
import * as subjects from "./pages/subjects.js";
import * as usage from "./pages/usage.js";
import { makeReadOnly, resume, session, signOut } from "./session.js";

const ROUTES = [
  { pattern: /^\/overview$/, page: overview, nav: "overview" },
  { pattern: /^\/meters$/, page: meters, nav: "meters" },
  { pattern: /^\/meters\/new$/, page: meterForm, nav: "meters" },
  { pattern: /^\/meters\/([^/]+)\/edit$/, page: meterForm, nav: "meters" },
  { pattern: /^\/meters\/([^/]+)\/usage$/, page: usage, nav: "meters" },
  { pattern: /^\/meters\/([^/]+)\/events$/, page: events, nav: "meters" },
  { pattern: /^\/subjects$/, page: subjects, nav: "subjects" },
  { pattern: /^\/subjects\/(.+)$/, page: subject, nav: "subjects" },
  { pattern: /^\/plans$/, page: plans, nav: "plans" },
  { pattern: /^\/plans\/new$/, page: planForm, nav: "plans" },
  { pattern: /^\/plans\/([^/]+)\/edit$/, page: planForm, nav: "plans" },
  { pattern: /^\/plans\/([^/]+)$/, page: plan, nav: "plans" },
  { pattern: /^\/entitlements$/, page: entitlements, nav: "entitlements" },
  { pattern: /^\/decisions$/, page: decisions, nav: "decisions" },
  { pattern: /^\/api-keys$/, page: apiKeys, nav: "api-keys" },
  { pattern: /^\/ingest$/, page: ingest, nav: "ingest" },
  // Alerting: rules, destinations and deliveries light the one "Alerts" entry.
  { pattern: /^\/alerts$/, page: alerts, nav: "alerts" },
  { pattern: /^\/alerts\/new$/, page: alertForm, nav: "alerts" },
  { pattern: /^\/alerts\/([^/]+)\/edit$/, page: alertForm, nav: "alerts" },
  { pattern: /^\/alerts\/([^/]+)$/, page: alertRule, nav: "alerts" },
  { pattern: /^\/destinations$/, page: destinations, nav: "alerts" },
  { pattern: /^\/deliveries$/, page: deliveries, nav: "alerts" },
  { pattern: /^\/deliveries\/([^/]+)$/, page: delivery, nav: "alerts" },
  { pattern: /^\/exports$/, page: exportsPage, nav: "exports" },
];

const NAV = [
  { id: "overview", label: "Overview", href: "#/overview" },
  { id: "meters", label: "Meters", href: "#/meters" },
  { id: "subjects", label: "Subjects", href: "#/subjects" },
  { id: "plans", label: "Plans", href: "#/plans" },
  { id: "entitlements", label: "Entitlements", href: "#/entitlements" },
  { id: "decisions", label: "Decisions", href: "#/decisions" },
  { id: "ingest", label: "Ingest health", href: "#/ingest" },
  { id: "alerts", label: "Alerts", href: "#/alerts" },
  { id: "exports", label: "Exports", href: "#/exports" },
  { id: "api-keys", label: "API keys", href: "#/api-keys", admin: true },
];

const main = document.getElementById("main");
let leave = null; // cleanup of the page shown
let wanted = null; // the route asked for before signing in

function parseHash() {
  const hash = window.location.hash.replace(/^#/, "") || "/overview";
  const [path, search = ""] = hash.split("?");
  return { path, query: new URLSearchParams(search) };
}

export function navigate(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function renderChrome(active) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("session");
  if (!session.signedIn) {
    replace(nav);
    replace(who);
    return;
  }
  replace(
    nav,
    h(
      "ul",
      {},
      NAV.filter((item) => !item.admin || session.canWrite).map((item) =>
        h(
          "li",
          {},
          h("a", { href: item.href, "aria-current": item.id === active ? "page" : null }, item.label),
        ),
      ),
    ),
  );
  replace(
    who,
    h(
      "span",
      { class: "who" },
      h("span", { class: `badge scope-${session.scope}` }, session.scope),
      " ",
      session.keyId ? `key ${session.keyId}` : "bootstrap key",
    ),
    h("button", { type: "button", class: "secondary small", on: { click: onSignOut } }, "Sign out"),
  );
}

function onSignOut() {
  signOut();
  notify("Signed out. The key was removed from this tab.");
  navigate("#/signin");
}

function setTitle(text) {
  document.title = text ? `${text} · Open Spanner` : "Open Spanner";
}

async function route() {
  if (leave) {
    leave();
    leave = null;
  }
  const { path, query } = parseHash();
  if (!session.signedIn) {
    if (path !== "/signin") wanted = `#${path}${query.toString() ? `?${query}` : ""}`;
    renderChrome(null);
    setTitle("Sign in");
    signin.render(main, { onSignedIn });
    return;
  }
  if (path === "/signin") {
    navigate("#/overview");
    return;
  }
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  if (!match) {
    renderChrome(null);
    setTitle("Not found");
    replace(
      main,
      h("h1", { tabindex: "-1" }, "No such page"),
      h("p", {}, "This address is not a page of the dashboard. "),
      h("p", {}, h("a", { href: "#/overview" }, "Go to the overview")),
    );
    return;
  }
  renderChrome(match.r.nav);
  const params = match.m.slice(1).map((part) => decodeURIComponent(part));
  const ctx = { params, query, session, navigate, setTitle };
  replace(main);
  try {
    leave = (await match.r.page.render(main, ctx)) || null;
  } catch (error) {
    // A page that fails to draw says so in words rather than staying blank.
    console.error(error);
    replace(main, errorState(`This page failed: ${error.message}`, route));
  }
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    if (document.activeElement === document.body || !main.contains(document.activeElement)) {
      heading.focus({ preventScroll: true });
    }
  }
}

function onSignedIn() {
  const target = wanted && wanted !== "#/signin" ? wanted : "#/overview";
  wanted = null;
  navigate(target);
}

setUnauthorizedHandler(() => {
  if (!session.signedIn) return;
  signOut();
  notify("The server no longer accepts this key (revoked?). Sign in again.", "error");
  route();
});

setForbiddenWriteHandler(() => {
  if (!session.canWrite) return;
  makeReadOnly();
  notify("This key may only read: changes are hidden from now on.", "error");
  route();
});

async function start() {
  replace(main, h("p", { class: "state state-loading", role: "status" }, "Loading…"));
  try {
    await resume();
  } catch (error) {
    replace(main, errorState(`Could not reach the server: ${error.message}`, start));
    return;
  }
  window.addEventListener("hashchange", route);
  route();
}

start();
