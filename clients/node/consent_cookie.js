// Re-issue the consent widget's cookie from a site's own backend (Node.js, no dependencies), so browsers
// that cap script-set cookies (Safari's ITP: 7 days) keep the decision for its whole lifetime.
//
// The same as clients/python/consent_cookie.py, checked against the same cases by the service's tests
// (tests/test_consent_cookie.py); that file's documentation says what is refused and why. In short: the
// value goes back byte for byte, only while its decision is in force and never for longer, and anything
// that is not a live decision of the widget gets null.
"use strict";

const MAX_VALUE_BYTES = 4096; // what browsers keep of one cookie
const MAX_LIFETIME_MONTHS = 13; // the longest lifetime a site may set
const MAX_DEPTH = 16; // of arrays and objects in one another: the widget's own nest two deep
const DAY_MS = 24 * 3600 * 1000; // slack for expiries computed on the device; a device clock's lead
const ENCODED_VALUE = /^(?:[A-Za-z0-9!'()*._~-]|%[0-9A-Fa-f]{2})+$/; // what encodeURIComponent writes
const DOMAIN = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

function cookieName(siteId) {
  const name = "consent_" + String(siteId).replace(/[^a-z0-9-]/g, "");
  if (name === "consent_") throw new Error(`${siteId} is no site id: use the widget's data-site attribute.`);
  return name;
}

// ms (epoch milliseconds) plus `months` calendar months in UTC, on the month's last day where it is shorter.
function addMonths(ms, months) {
  const d = new Date(ms);
  const year = d.getUTCFullYear(), month = d.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(year, month, Math.min(d.getUTCDate(), lastDay), d.getUTCHours(), d.getUTCMinutes(),
    d.getUTCSeconds(), d.getUTCMilliseconds());
}

function depth(value) {
  let deepest = 0;
  const level = [[value, 1]];
  while (level.length) {
    const [item, itemDepth] = level.pop();
    if (typeof item === "object" && item !== null) {
      deepest = Math.max(deepest, itemDepth);
      for (const inner of Object.values(item)) level.push([inner, itemDepth + 1]);
    }
  }
  return deepest;
}

function decisionIn(cookieValue) {
  if (typeof cookieValue !== "string" || Buffer.byteLength(cookieValue, "utf8") > MAX_VALUE_BYTES) return null;
  if (!ENCODED_VALUE.test(cookieValue)) return null;
  let decision;
  try {
    decision = JSON.parse(decodeURIComponent(cookieValue));
  } catch (error) {
    return null;
  }
  if (typeof decision !== "object" || decision === null || Array.isArray(decision)) return null;
  if (depth(decision) > MAX_DEPTH) return null;
  const choices = decision.c;
  if (typeof decision.v !== "string" || !decision.v) return null;
  if (typeof choices !== "object" || choices === null || Array.isArray(choices)) return null;
  if (!Object.values(choices).every((given) => typeof given === "boolean")) return null;
  return decision;
}

const isMs = (value) => Number.isSafeInteger(value) && value >= 0;

// Whole seconds the decision in `cookieValue` (raw, still percent-encoded) has left at `now` (ms), or null.
function remainingSeconds(cookieValue, now = Date.now()) {
  const decision = decisionIn(cookieValue);
  if (!decision || !isMs(decision.t) || !isMs(decision.e) || decision.e <= decision.t) return null;
  if (decision.t > now + DAY_MS) return null; // a decision "made" in the future could be given any expiry
  if (decision.e > addMonths(decision.t, MAX_LIFETIME_MONTHS) + DAY_MS) return null;
  const left = Math.floor((decision.e - now) / 1000);
  return left >= 1 ? left : null;
}

// The Set-Cookie header value that sets the widget's cookie of `siteId` again for the time its decision
// has left, or null. Pass the cookie as the browser sent it: read the Cookie header (cookie-parser decodes).
function refreshedCookie(cookieValue, siteId, { now = Date.now(), domain = null, secure = true } = {}) {
  const name = cookieName(siteId);
  if (domain !== null && !DOMAIN.test(domain)) throw new Error(`${domain} is no cookie domain.`);
  const left = remainingSeconds(cookieValue, now);
  if (left === null) return null;
  const attributes = [`${name}=${cookieValue}`, `Max-Age=${left}`, "Path=/"];
  if (domain !== null) attributes.push(`Domain=${domain}`);
  attributes.push("SameSite=Lax");
  if (secure) attributes.push("Secure");
  return attributes.join("; ");
}

// The raw value of one cookie in a Cookie header, or null.
function rawCookie(header, name) {
  const entry = String(header || "").split(/;\s*/).find((part) => part.startsWith(name + "="));
  return entry ? entry.slice(name.length + 1) : null;
}

module.exports = { cookieName, refreshedCookie, remainingSeconds, rawCookie };
