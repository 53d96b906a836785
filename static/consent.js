/*! consent.js: the embeddable consent banner. One file, no dependencies, styles inside a Shadow DOM.
 * Embed: <script src="https://HOST/static/consent.js" data-site="SITE_ID" async></script>
 */
(() => {
  "use strict";

  const script = document.currentScript || document.querySelector("script[data-site][src*='consent.js']");
  if (!script || window.Consent) return;

  // ---- Settings ------------------------------------------------------------------------------
  const SITE = script.dataset.site;
  const API = new URL("/api/v1/", script.src).href;
  const COOKIE = "consent_" + SITE.replace(/[^a-z0-9-]/g, "");
  const COOKIE_MAX_AGE = 365 * 24 * 3600;

  // ---- State: one object; everything rendered or stored derives from it -------------------------
  const state = {
    config: null,
    language: null,
    stored: null, // the decision kept in the first-party cookie
    subject: script.dataset.subject || null,
    listeners: [],
  };

  // ---- Browser signals -------------------------------------------------------------------------
  const signals = {
    dnt: navigator.doNotTrack === "1" || window.doNotTrack === "1",
    gpc: navigator.globalPrivacyControl === true,
  };

  // ---- Storage: a first-party cookie on the host site ------------------------------------------
  function readStored() {
    const entry = document.cookie.split("; ").find((part) => part.startsWith(COOKIE + "="));
    if (!entry) return null;
    try {
      return JSON.parse(decodeURIComponent(entry.slice(COOKIE.length + 1)));
    } catch (error) {
      return null; // a damaged cookie counts as no decision: the visitor is asked again
    }
  }

  function writeStored(decision) {
    const secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = `${COOKIE}=${encodeURIComponent(JSON.stringify(decision))}; Max-Age=${COOKIE_MAX_AGE}; Path=/; SameSite=Lax${secure}`;
    state.stored = decision;
  }

  function randomId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // ---- Network -----------------------------------------------------------------------------------
  async function fetchConfig(language) {
    const url = `${API}sites/${encodeURIComponent(SITE)}/config?lang=${encodeURIComponent(language)}`;
    const response = await fetch(url, { credentials: "omit" });
    if (!response.ok) throw new Error(`consent.js: config for site ${SITE} failed (${response.status})`);
    return response.json();
  }

  async function sendDecision(body) {
    const response = await fetch(API + "consents", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      keepalive: true,
    });
    if (!response.ok) throw new Error(`consent.js: recording the decision failed (${response.status})`);
    return response.json();
  }

  // ---- Decisions ---------------------------------------------------------------------------------
  function pageLanguage() {
    const tag = document.documentElement.lang || navigator.language || "";
    return /^zh/i.test(tag) ? "zh-CN" : "en";
  }

  // "Accept all" never grants a sensitive purpose: those need their own, separate consent.
  function allChoices(grantOptional) {
    const choices = {};
    for (const purpose of state.config.purposes) choices[purpose.id] = purpose.required || (grantOptional && !purpose.sensitive);
    return choices;
  }

  function separateConsents(choices) {
    return state.config.purposes.filter((purpose) => purpose.sensitive && choices[purpose.id]).map((purpose) => purpose.id);
  }

  async function decide(choices, method) {
    const decision = {
      v: state.config.policy.version,
      c: choices,
      id: (state.stored && state.stored.id) || randomId(),
      t: Date.now(),
      l: state.language,
    };
    // Apply at once on this device; the record follows.
    writeStored(decision);
    hideBanner();
    emitChange();
    const result = await sendDecision({
      site_id: SITE,
      subject_id: state.subject,
      visitor_id: decision.id,
      choices,
      policy_version: decision.v,
      language: state.language,
      signals,
      separate_consents: separateConsents(choices),
      collection_method: method,
      idempotency_key: randomId(),
    });
    writeStored(Object.assign({}, decision, { r: result.receipt_id, k: result.receipt_token }));
    emitChange();
  }

  function emitChange() {
    const detail = api.get();
    window.dispatchEvent(new CustomEvent("consent:change", { detail }));
    for (const listener of state.listeners) listener(detail);
  }

  // ---- Rendering: everything inside a Shadow DOM, every text set as text ------------------------
  const STYLES = `
    :host { all: initial; }
    .banner { position: fixed; left: 50%; bottom: 1rem; transform: translateX(-50%); z-index: 2147483647;
      box-sizing: border-box; width: min(40rem, calc(100vw - 2rem)); max-height: calc(100vh - 2rem); overflow: auto;
      padding: 1.25rem; border-radius: .75rem; background: #fff; color: #1a1a1a;
      box-shadow: 0 .5rem 2rem rgba(0,0,0,.25); line-height: 1.5; font-size: 15px;
      font-family: system-ui, -apple-system, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei",
        "Noto Sans CJK SC", "Source Han Sans SC", sans-serif; }
    h2 { margin: 0 0 .5rem; font-size: 1.15rem; }
    p { margin: 0 0 .75rem; }
    a { color: #0b57d0; }
    .actions { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: .75rem; }
    button { flex: 1 1 8rem; font: inherit; padding: .6rem 1rem; border-radius: .5rem; cursor: pointer;
      border: 2px solid #1f3a8a; background: #1f3a8a; color: #fff; }
    button:focus-visible, input:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
    .purposes { list-style: none; margin: .5rem 0 0; padding: 0; }
    .purposes li { padding: .5rem 0; border-top: 1px solid #e5e7eb; }
    .purposes label { display: flex; gap: .5rem; align-items: center; font-weight: 600; }
    .purposes p { margin: .25rem 0 0 1.75rem; font-size: .9em; color: #374151; }
    .notice { padding: .5rem .75rem; border-radius: .5rem; background: #fef3c7; color: #3b2f00; }
    [hidden] { display: none !important; }
  `;

  let root = null;

  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    node.append(...children.filter(Boolean));
    return node;
  }

  function mount() {
    const host = element("div", { "data-consent-widget": SITE });
    root = host.attachShadow({ mode: "open" });
    if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      // A constructed sheet needs no inline <style>, so strict CSP host pages keep working.
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLES);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.append(element("style", { text: STYLES }));
    }
    document.body.append(host);
  }

  function renderBanner() {
    const { config } = state;
    const strings = config.strings;
    const checked = state.stored ? state.stored.c : {};
    const toggles = config.purposes.map((purpose) => {
      const input = element("input", { type: "checkbox", "data-purpose": purpose.id });
      input.checked = purpose.required || checked[purpose.id] === true;
      input.disabled = purpose.required;
      return element(
        "li",
        {},
        element("label", {}, input, element("span", { text: purpose.title })),
        element("p", { text: purpose.required ? `${strings.always_on}. ${purpose.description}` : purpose.description })
      );
    });
    const details = element("ul", { class: "purposes", hidden: "" }, ...toggles);
    const save = element("button", {
      type: "button",
      "data-action": "save",
      hidden: "",
      text: strings.save,
      onclick: () => {
        const choices = {};
        for (const input of details.querySelectorAll("input[data-purpose]")) choices[input.dataset.purpose] = input.checked;
        decide(choices, "banner").catch(reportFailure);
      },
    });
    const customize = element("button", {
      type: "button",
      "data-action": "customize",
      text: strings.customize,
      onclick: () => {
        details.hidden = false;
        save.hidden = false;
        customize.hidden = true;
        details.querySelector("input:not([disabled])")?.focus();
      },
    });
    const banner = element(
      "section",
      { class: "banner", role: "dialog", "aria-modal": "false", "aria-labelledby": "consent-title", "aria-describedby": "consent-intro", lang: state.language },
      element("h2", { id: "consent-title", text: config.texts.title }),
      element("p", { id: "consent-intro", text: config.texts.intro }),
      signals.dnt || signals.gpc ? element("p", { class: "notice", role: "note", text: strings.signal_notice }) : null,
      element("p", {}, element("a", { href: config.policy.url, target: "_blank", rel: "noopener", text: strings.policy_link })),
      details,
      element(
        "div",
        { class: "actions" },
        element("button", { type: "button", "data-action": "accept-all", text: strings.accept_all, onclick: () => decide(allChoices(true), "banner").catch(reportFailure) }),
        element("button", { type: "button", "data-action": "reject-all", text: strings.reject_all, onclick: () => decide(allChoices(false), "banner").catch(reportFailure) }),
        customize,
        save
      )
    );
    root.replaceChildren(banner);
    banner.querySelector("button").focus({ preventScroll: true });
  }

  function hideBanner() {
    if (root) root.replaceChildren();
  }

  function reportFailure(error) {
    console.warn(error); // eslint-disable-line no-console
  }

  // ---- Public API: the only global this script defines ---------------------------------------------
  const api = {
    /** The stored decision: {policyVersion, choices, receiptId} or null before any. */
    get() {
      if (!state.stored) return null;
      return { policyVersion: state.stored.v, choices: Object.assign({}, state.stored.c), receiptId: state.stored.r || null, signals: Object.assign({}, signals) };
    },
    on(eventName, listener) {
      if (eventName === "change") state.listeners.push(listener);
    },
    showPreferences() {
      if (state.config) {
        renderBanner();
        root.querySelector("[data-action=customize]").click();
      }
    },
    setSubject(subjectId) {
      state.subject = subjectId ? String(subjectId) : null;
    },
  };
  window.Consent = api;

  // ---- Start -------------------------------------------------------------------------------------
  async function start() {
    state.language = pageLanguage();
    state.stored = readStored();
    state.config = await fetchConfig(state.language);
    mount();
    if (state.stored && state.stored.v === state.config.policy.version) {
      emitChange();
    } else {
      renderBanner();
    }
  }

  if (document.body) start().catch(reportFailure);
  else document.addEventListener("DOMContentLoaded", () => start().catch(reportFailure));
})();
