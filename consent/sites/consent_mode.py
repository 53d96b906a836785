"""Google Consent Mode v2 for a site: a small synchronous script that sets every consent type before any
Google tag runs, then updates them from the widget's decisions.

The widget loads `async`, so it cannot be first; this script is loaded without `async` above the Google
tag. It sets the default (denied, but for types that only the site's required purposes grant) with
`wait_for_update`, and on every `consent:change` the widget dispatches (a returning visitor's stored
decision included) whose consent state differs from the last one sent it calls `update` and pushes a
`consent_update` event for Google Tag Manager.

A consent type is granted when every purpose mapped to it is granted. Without a mapping in the site's
YAML, security_storage and functionality_storage follow the required purposes and every other type
stays denied: nothing is granted to Google that the operator did not map to a purpose.
"""
import json

from consent.sites.config_schema import CONSENT_MODE_TYPES

WAIT_FOR_UPDATE_MS = 500  # how long Google tags wait for the widget's first update
SCRIPT = """/*! Google Consent Mode v2 for site %(site)s, from the consent service. Load it before the Google tag. */
(function () {
  "use strict";
  window.dataLayer = window.dataLayer || [];
  function gtag() { window.dataLayer.push(arguments); }
  var MAPPING = %(mapping)s;
  function state(granted) {
    var result = {};
    Object.keys(MAPPING).forEach(function (type) {
      var purposes = MAPPING[type];
      result[type] = purposes.length && purposes.every(granted) ? "granted" : "denied";
    });
    return result;
  }
  var REQUIRED = %(required)s;
  var initial = state(function (purpose) { return REQUIRED.indexOf(purpose) >= 0; });
  initial.wait_for_update = %(wait)d;
  gtag("consent", "default", initial);
  var sent = null; // the widget reports a decision again when its receipt arrives: one update per change
  window.addEventListener("consent:change", function (event) {
    var choices = event.detail.choices;
    var update = state(function (purpose) { return choices[purpose] === true; });
    if (JSON.stringify(update) === sent) return;
    sent = JSON.stringify(update);
    gtag("consent", "update", update);
    window.dataLayer.push({ event: "consent_update", consent_choices: choices });
  });
})();
"""


def mapping(site, required):
    """{consent type: [purpose ids]} for every consent type: the site's own, else derived from the ids of
    its `required` purposes."""
    derived = {"security_storage": required, "functionality_storage": required}
    configured = site.google_consent_mode or derived
    return {consent_type: configured.get(consent_type, []) for consent_type in CONSENT_MODE_TYPES}


def script(site, purposes):
    """The script's text for `site` under its current policy's `purposes`."""
    required = [purpose["id"] for purpose in purposes if purpose["required"]]
    return SCRIPT % {
        "site": site.id,
        "mapping": json.dumps(mapping(site, required), sort_keys=True),
        "required": json.dumps(required),
        "wait": WAIT_FOR_UPDATE_MS,
    }
