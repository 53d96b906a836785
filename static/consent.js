/*! consent.js: consent banner in a Shadow DOM; consent-lazy.js brings the rest. No dependencies. README.md, "The widget". */
(() => {
  "use strict";

  const script = document.currentScript || document.querySelector("script[data-site][src*='consent.js']");
  if (!script || window.Consent) return;

  // ---- Settings
  // The per-site script (/api/v1/sites/SITE/consent.js) carries its config, so the banner needs one request.
  const INLINE = script.consentConfig;
  const SITE = INLINE ? INLINE.site_id : script.dataset.site;
  const SERVICE = new URL(script.src).origin;
  const API = SERVICE + "/api/v1/";
  // What is needed only after the banner: the preference centre, embeds, clearing. The app serves this
  // address with a version, immutable.
  const LAZY = SERVICE + "/static/consent-lazy.js";
  const COOKIE = "consent_" + SITE.replace(/[^a-z0-9-]/g, "");
  const PENDING = COOKIE + "_pending"; // localStorage: records the service has not acknowledged
  const ASK_AGAIN_AFTER_REFUSAL = 48 * 3600 * 1000;
  // data-mode="device": decisions apply on this device only, nothing is sent (previews, scanners).
  const DEVICE = script.dataset.mode === "device";
  const SITE_API = `${API}sites/${encodeURIComponent(SITE)}/`;

  // ---- State: one object; everything rendered or stored derives from it
  const state = {
    config: null,
    configs: {}, // by language: each fetched once
    language: null,
    stored: null, // the decision in the first-party cookie
    subject: script.dataset.subject || null,
    token: (script.dataset.subject && script.dataset.subjectToken) || null, // made by the site's backend
    askAgain: false, // the service refused the last decision: say so
    listeners: [],
    wantsPreferences: false, // showPreferences() called before the config arrived
    full: false, // the lazy part is loaded: configs are fetched whole
    retryDelay: 1000,
    retryTimer: null,
    flushing: false,
  };

  // ---- Signals: what the browser says before the visitor does
  const signals = {
    dnt: navigator.doNotTrack === "1" || window.doNotTrack === "1",
    gpc: navigator.globalPrivacyControl === true,
  };
  const browserOptsOut = signals.dnt || signals.gpc;

  // ---- Storage
  // The cookie holds the decision: v policy version, c choices, t time, l language, x refusal time
  // (48-hour rule; 1: ask now), d visitor's own Do-Not-Track, a age statement (g "given": a guardian
  // decided), q idempotency key of the newest record, r/k its receipt id and access token, u the user it
  // is bound to, s the visitor's credential (random, made once, sent with each record: only this browser
  // has it), e the expiry (ms; the receipt's once it arrives). The cookie lives exactly as long as the decision.
  function readStored() {
    const entry = document.cookie.split("; ").find((part) => part.startsWith(COOKIE + "="));
    try {
      const decision = entry ? JSON.parse(decodeURIComponent(entry.slice(COOKIE.length + 1))) : null;
      return decision && decision.e <= Date.now() ? null : decision; // an expired decision is none
    } catch (error) {
      return null; // a damaged cookie counts as no decision: the visitor is asked again
    }
  }

  // A site's cookie_domain shares the cookie with its subdomains, on hosts under that domain only.
  function writeStored(decision) {
    const secure = location.protocol === "https:" ? "; Secure" : "";
    const host = location.hostname, domain = state.config && state.config.cookie_domain;
    const shared = domain && (host === domain || host.endsWith("." + domain)) ? "; Domain=" + domain : "";
    if (shared) document.cookie = COOKIE + "=; Max-Age=0; Path=/"; // a host-only copy would hide the shared one
    const maxAge = Math.max(0, Math.round((expiresAt(decision) - Date.now()) / 1000));
    document.cookie = `${COOKIE}=${encodeURIComponent(JSON.stringify(decision))}; Max-Age=${maxAge}; Path=/${shared}; SameSite=Lax${secure}`;
    state.stored = decision;
  }

  // A decision lasts the site's lifetime_months, counted as the service counts it: the same day of the
  // month (or the month's last), in UTC.
  function expiresAt(decision) {
    if (decision.e) return decision.e;
    const date = new Date(decision.t);
    const day = date.getUTCDate();
    date.setUTCDate(1);
    date.setUTCMonth(date.getUTCMonth() + ((state.config && state.config.lifetime_months) || 12));
    date.setUTCDate(Math.min(day, new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate()));
    return date.getTime();
  }

  // Pending records survive a reload; without localStorage (sandboxed frames) they live in memory.
  let memoryQueue = [];
  function readQueue() {
    try {
      return JSON.parse(localStorage.getItem(PENDING)) || [];
    } catch (error) {
      return memoryQueue;
    }
  }

  function writeQueue(queue) {
    memoryQueue = queue;
    try {
      localStorage.setItem(PENDING, JSON.stringify(queue));
    } catch (error) {
      /* memory only */
    }
  }

  function randomId() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // ---- Network
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      keepalive: true,
    });
  }

  // The banner's anonymous marks (README, "Banner statistics"): one when it shows, one when the visitor
  // decides from it. No identifier, nothing kept on the device, nothing linking the two. A beacon's text/plain
  // body needs no CORS preflight; never in device mode (previews, scanners), nor when the site turned them off.
  let shown = null; // the banner on screen: [when it showed, its language], until the visitor decides from it
  function mark(body) {
    if (!DEVICE && state.config.funnel) navigator.sendBeacon(SITE_API + "funnel", JSON.stringify(body));
  }

  // Until the lazy part is loaded (state.full), the banner's view of the config is enough: the bytes
  // every first visit waits for. The lazy part needs the full one, for every language it shows.
  async function loadConfig(language) {
    if (INLINE && INLINE.language === language && !state.configs[language]) state.configs[language] = INLINE;
    const cached = state.configs[language];
    if (!cached || (state.full && cached.view)) {
      const response = await fetch(`${SITE_API}config?lang=${language}${state.full ? "" : "&view=banner"}`, { credentials: "omit" });
      if (!response.ok) throw new Error(`consent.js: no config (${response.status})`);
      state.configs[language] = await response.json();
    }
    state.language = language;
    state.config = state.configs[language];
  }

  // Sends pending records oldest first; a failure keeps them for a retry with backoff. Each keeps
  // its idempotency key: a retry of a record that did arrive adds nothing. A refusal's `action` says
  // what to do; without one, 429 and 5xx are retried and the rest dropped.
  async function flush() {
    if (state.flushing || DEVICE) return;
    state.flushing = true;
    try {
      for (let queue = readQueue(); queue.length; queue = readQueue()) {
        const body = queue[0];
        const response = await post(API + "consents", body);
        const result = await response.json().catch(() => ({}));
        const { status } = response;
        const action = response.ok ? "" : result.action || (status >= 500 || status === 429 ? "retry" : "drop");
        if (action === "retry") throw status;
        writeQueue(readQueue().filter((pending) => pending.idempotency_key !== body.idempotency_key));
        if (action) {
          report(`consent.js: decision refused (${status}) ${result.detail || ""}`);
          if (action === "ask_again") askAgain(body);
          continue;
        }
        if (result.subject_problem) report(`consent.js: user not bound (${result.subject_problem})`);
        if (state.stored && state.stored.q === body.idempotency_key) {
          const u = result.subject_verified ? body.subject_id : null;
          const e = result.expires_at_ms || state.stored.e;
          writeStored(Object.assign({}, state.stored, { r: result.receipt_id, k: result.receipt_token, u, e }));
          setStatus("saved");
          emitChange();
          if (state.token !== body.subject_token) sync(); // the page named its user since: link
        }
      }
      state.retryDelay = 1000;
    } catch (error) {
      setStatus("save_failed");
      clearTimeout(state.retryTimer);
      state.retryTimer = setTimeout(flush, state.retryDelay);
      state.retryDelay = Math.min(state.retryDelay * 2, 60000);
    } finally {
      state.flushing = false;
    }
  }
  window.addEventListener("online", flush);

  // The service no longer takes the decision (a new policy version, a grant too old): reload the
  // config and ask again, on later pages too until the visitor chooses.
  function askAgain(body) {
    if (state.stored && state.stored.q === body.idempotency_key) writeStored(Object.assign({}, state.stored, { x: 1 }));
    state.askAgain = true;
    delete state.configs[state.language];
    loadConfig(state.language).then(renderBanner, report);
  }

  // The user's decision in force, from any device: {subject, decision}; null without a valid token.
  function askSubject() {
    const subject = state.subject;
    if (DEVICE || !state.token) return Promise.resolve(null);
    return post(SITE_API + "subject-decision", { subject_id: subject, subject_token: state.token })
      .then((response) => response.ok && response.json())
      .then((answer) => answer && Object.assign(answer, { subject }), () => null);
  }

  // As start() does, later: once the page names its user, or a decision made before gets its receipt.
  function sync() {
    askSubject().then((answer) => reconcile(answer) && settle(root.querySelector(".modal")), report);
  }

  // ---- Decisions
  // "Accept all" never grants a purpose of its own step (separate consent, or asked at the moment of
  // use), nor a tracking one when the browser or the visitor asked not to be tracked: those must be
  // turned on one by one.
  function allChoices(grant, doNotTrack) {
    const choices = {};
    for (const purpose of state.config.purposes) {
      choices[purpose.id] = purpose.required || (grant && !ownStep(purpose) && !(purpose.tracking && (browserOptsOut || doNotTrack)));
    }
    return choices;
  }

  const ownStep = (purpose) => !!(purpose.separate || purpose.ask);

  // No purpose stays granted without those it requires: withdrawing one withdraws its dependents.
  function withRequirements(choices) {
    for (let unmet; (unmet = state.config.purposes.find((purpose) => choices[purpose.id] && (purpose.requires || []).some((id) => !choices[id]))); ) choices[unmet.id] = false;
    return choices;
  }

  const refusesAll = (choices) => !state.config.purposes.some((purpose) => !purpose.required && choices[purpose.id]);

  function decide(choices, doNotTrack, method, age) {
    const stored = state.stored || {};
    const decision = {
      v: state.config.policy.version,
      c: withRequirements(Object.assign({}, choices)),
      t: Date.now(),
      l: state.language,
      d: !!doNotTrack,
      a: age || stored.a || null,
      q: randomId(),
      s: stored.s || randomId(),
    };
    if (refusesAll(decision.c)) decision.x = decision.t;
    state.askAgain = false;
    const before = stored.c;
    // Apply at once on this device; the record follows, now or when the service is reachable.
    writeStored(decision);
    enqueue(decision, method);
    applyToPage(before);
    emitChange();
    return flush();
  }

  // Queues the record of a stored decision, with the page's user as now; `links`: the receipt of the
  // visitor's own decision this one makes again as that user.
  function enqueue(decision, method, links) {
    if (DEVICE) return;
    writeQueue(readQueue().concat({
      site_id: SITE,
      subject_id: state.subject,
      subject_token: state.token,
      visitor_secret: decision.s,
      decided_at: decision.t,
      links_receipt_id: links,
      choices: decision.c,
      policy_version: decision.v,
      language: decision.l,
      signals,
      do_not_track: decision.d,
      collection_method: method,
      idempotency_key: decision.q,
      separate_consents: state.config.purposes.filter((purpose) => ownStep(purpose) && decision.c[purpose.id]).map((purpose) => purpose.id),
      age_statement: state.config.age_gate ? decision.a : null,
    }));
  }

  // The user's decision (askSubject) against this device's. Theirs applies here, without a banner,
  // when newer or when ours is for an older policy version. Otherwise ours, if bound to nobody and
  // receipted, is linked: made again as the user (one still queued is, once its receipt arrives).
  // A decision bound to another user is never linked: it is theirs. Returns whether theirs applied.
  function reconcile(answer) {
    if (!answer || answer.subject !== state.subject) return false; // the page changed users meanwhile
    const theirs = answer.decision;
    const stored = state.stored;
    const version = state.config.policy.version;
    if (theirs && stored && theirs.receipt_id === stored.r) return false;
    if (theirs && (!stored || theirs.decided_at_ms > stored.t || (stored.v !== version && theirs.policy_version === version))) {
      writeStored({
        v: theirs.policy_version,
        c: theirs.choices,
        t: theirs.decided_at_ms,
        l: state.language,
        d: theirs.do_not_track,
        a: theirs.age_statement,
        g: theirs.guardian_consent, // "given": a guardian decided for this minor
        r: theirs.receipt_id,
        k: theirs.receipt_token,
        e: theirs.expires_at_ms,
        u: answer.subject,
        s: (stored && stored.s) || randomId(),
        x: refusesAll(theirs.choices) ? Date.now() : undefined, // the 48 hours count on this device
      });
      return true;
    }
    // Without s (an older cookie) the service cannot tell the decision is this visitor's.
    if (stored && stored.r && stored.s && !stored.u && stored.v === version &&
        !readQueue().some((pending) => pending.links_receipt_id === stored.r)) {
      const linked = Object.assign({}, stored, { q: randomId() });
      writeStored(linked);
      enqueue(linked, "link", stored.r);
      flush();
    }
    return false;
  }

  function needsAsking() {
    const stored = state.stored;
    return !stored || stored.v !== state.config.policy.version || Date.now() >= expiresAt(stored) ||
      (stored.x && Date.now() - stored.x >= ASK_AGAIN_AFTER_REFUSAL);
  }

  const granted = (purposeId) => !!state.stored && state.stored.c[purposeId] === true;

  // The decision applied to the page: gated scripts run, embeds load or go back behind their placeholder,
  // and the declared cookies and storage of every purpose not granted are deleted (`before`: the choices
  // this decision replaces, for a reload after a withdrawal). Embeds and clearing are lazy code, loaded
  // after the banner shows whatever the page holds, so the preference centre opens offline too.
  function applyToPage(before) {
    runGatedScripts();
    lazy().then((more) => more.apply(before), report);
  }

  const EMBEDS = "[data-consent][data-src]:not(script)";

  // Host scripts written as <script type="text/plain" data-consent="analytics [more]"> run once every
  // purpose they name is granted; single-page apps adding such scripts later are watched for.
  function runGatedScripts() {
    for (const inert of document.querySelectorAll('script[type="text/plain"][data-consent]')) {
      if (!inert.dataset.consent.split(/\s+/).every(granted)) continue;
      const live = document.createElement("script");
      for (const { name, value } of inert.attributes) if (name !== "type") live.setAttribute(name, value);
      if (inert.dataset.type) live.type = inert.dataset.type;
      live.nonce = inert.nonce;
      live.async = false; // keep the page's order
      live.text = inert.text;
      inert.replaceWith(live);
    }
  }

  function emitChange() {
    const detail = api.get();
    window.dispatchEvent(new CustomEvent("consent:change", { detail }));
    for (const listener of state.listeners) listener(detail);
  }

  // ---- Rendering: everything inside a Shadow DOM, every text set as text, never as HTML
  const STYLES = `
    :host { all: initial; line-height: 1.5; font-size: 15px;
      font-family: system-ui, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif;
      --bg: #fff; --fg: #1a1a1a; --muted: #4b5563; --line: #d1d5db; --accent: #1f3a8a; --on-accent: #fff;
      --link: #0b57d0; --note: #fef3c7; --on-note: #3b2f00; --focus: #b45309; }
    @media (prefers-color-scheme: dark) { :host { --bg: #1f2937; --fg: #f3f4f6; --muted: #d1d5db; --line: #4b5563;
      --accent: #bfdbfe; --on-accent: #111827; --link: #93c5fd; --note: #422006; --on-note: #fde68a; --focus: #fbbf24; } }
    .box { position: fixed; z-index: 2147483647; box-sizing: border-box; overflow: auto; padding: 1.25rem; border-radius: .75rem;
      background: var(--bg); color: var(--fg); box-shadow: 0 .5rem 2rem rgba(0,0,0,.35); left: 50%; max-height: calc(100vh - 2rem); }
    .banner { bottom: 1rem; transform: translateX(-50%); width: min(40rem, calc(100vw - 2rem)); }
    @media (prefers-reduced-motion: no-preference) { .box { animation: rise .2s ease-out; } }
    @keyframes rise { from { translate: 0 1rem; } } /* a slide: legible at once */
    h2 { margin: 0; font-size: 1.15rem; }
    p { margin: 0 0 .75rem; } a { color: var(--link); } [role=status] { margin: .5rem 0 0; }
    .head { display: flex; justify-content: space-between; gap: .5rem; align-items: center; margin-bottom: .5rem; }
    .head .row { margin: 0; }
    .row { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: .75rem; }
    button { flex: 1 1 8rem; font: inherit; padding: .55rem 1rem; border-radius: .5rem; cursor: pointer;
      border: 2px solid var(--accent); background: var(--accent); color: var(--on-accent); }
    .head button, .fab { flex: none; background: var(--bg); color: var(--fg); padding: .3rem .7rem; }
    :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
    .note { padding: .5rem .75rem; border-radius: .5rem; background: var(--note); color: var(--on-note); }
    .fab { position: fixed; left: 1rem; bottom: 1rem; z-index: 2147483645; font-size: 13px; border-radius: 2rem;
      box-shadow: 0 .25rem 1rem rgba(0,0,0,.3); }
    [hidden] { display: none !important; }
  `;

  let host = null;
  let root = null;

  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (value !== false && value != null) node.setAttribute(name, value === true ? "" : value);
    }
    node.append(...children.filter(Boolean));
    return node;
  }

  const button = (text, onclick, attributes) => element("button", Object.assign({ type: "button", text, onclick }, attributes));
  const link = (href, text) => element("a", { href, text, target: "_blank", rel: "noopener" });

  function mount() {
    host = element("div", { "data-consent-widget": SITE });
    root = host.attachShadow({ mode: "open" });
    addStyles(STYLES);
  }

  // The widget's styles, which embed placeholders (lazy code) share. A constructed sheet needs no inline
  // <style>, so hosts with a strict CSP keep working; browsers without one (Safari before 16.4) get
  // <style> elements, which show() keeps.
  const sheets = [];
  let styleNodes = [];
  function addStyles(css) {
    sheets.push(css);
    for (const node of styleNodes) node.remove();
    styleNodes = styleInto(root);
  }

  function styleInto(target) {
    if (target.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      target.adoptedStyleSheets = sheets.map((css) => {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(css);
        return sheet;
      });
      return [];
    }
    const nodes = sheets.map((css) => element("style", { text: css }));
    target.prepend(...nodes);
    return nodes;
  }

  // Single-page apps may replace <body>: put the widget back when shown.
  function show(...nodes) {
    if (!host.isConnected) document.body.append(host);
    root.replaceChildren(...styleNodes, ...nodes.filter(Boolean));
    const first = root.querySelector("[data-focus]"); // focus moves into each dialog as it opens
    if (first) first.focus({ preventScroll: true });
  }

  function setStatus(key) {
    const line = root && root.querySelector("[role=status]");
    if (line) line.textContent = state.config.strings[key];
  }

  // The dialog's title with the language switch, which re-renders `view` in the other language.
  function header(id, title, view, closer) {
    const other = state.language === "en" ? "zh-CN" : "en";
    return element(
      "div",
      { class: "head" },
      element("h2", { id, text: title }),
      element(
        "div",
        { class: "row" },
        button(state.config.strings.switch_language, () => loadConfig(other).then(view, report), { lang: other }),
        closer
      )
    );
  }

  function notices() {
    const { config } = state;
    const changed = state.stored && state.stored.v !== config.policy.version;
    return [
      browserOptsOut && element("p", { class: "note", role: "note", text: config.strings.signal_notice }),
      changed ? element(
        "p",
        { class: "note", role: "note" },
        `${config.strings.policy_changed} ${config.policy.changes || ""} `,
        link(config.policy.archive_url, config.strings.what_changed)
      ) : state.askAgain && element("p", { class: "note", role: "note", text: config.strings.choose_again }),
    ];
  }

  // A banner: a non-modal dialog under the site's banner title.
  function bannerBox(description, ...children) {
    return element(
      "section",
      { class: "box banner", role: "dialog", "aria-labelledby": "cw-title", "aria-describedby": description.id, lang: state.language },
      header("cw-title", state.config.texts.title, renderBanner),
      description,
      ...children
    );
  }

  function renderBanner() {
    const { config } = state;
    const strings = config.strings;
    // Sites with an age gate ask first, at every prompt, unless an adult said so before; under the
    // site's age (14 or 18), nothing optional is granted until a guardian consents.
    const age = state.age || (state.stored && state.stored.a === "adult" ? "adult" : null);
    const answer = (given) => () => {
      state.age = given;
      if (given !== "adult") decide(allChoices(false), false, "banner", given);
      renderBanner();
    };
    if (config.age_gate && minor(age)) {
      return show(bannerBox(element("p", { id: "cw-age", class: "note", text: ageText("guardian_needed") }), button(strings.close, renderButton, { "data-focus": 1 })));
    }
    if (config.age_gate && !age) {
      return show(bannerBox(
        element("p", { id: "cw-age", text: ageText("age_question") }),
        element("div", { class: "row" }, button(ageText("age_adult"), answer("adult"), { "data-focus": 1, "data-age": "adult" }), button(ageText("age_minor"), answer("minor")))
      ));
    }
    let list = null; // built on demand, by lazy code: the banner paints first
    let readChoices = null;
    const choose = (choices) => () => {
      const [picked, doNotTrack] = list ? readChoices(list) : [null, !!(state.stored && state.stored.d)];
      decide(choices ? choices(doNotTrack) : picked, doNotTrack, "banner", age);
      // Its kind as the service's classify() counts it: the optional purposes outside a step of their own.
      const granted = config.purposes.filter((purpose) => !purpose.required && !ownStep(purpose)).map((purpose) => state.stored.c[purpose.id]);
      mark({ mark: granted.includes(true) ? (granted.includes(false) ? "custom" : "accept_all") : "reject_all", language: shown[1], seconds: Math.floor((Date.now() - shown[0]) / 1000) });
      shown = null;
      renderButton(true); // the banner gives way to the floating button, focus too
    };
    const save = button(strings.save, choose(), { hidden: true });
    const customize = button(strings.customize, () => lazy().then((more) => {
      readChoices = more.readChoices;
      customize.parentNode.before((list = more.choiceList(() => {})));
      save.hidden = false;
      customize.hidden = true;
      list.querySelector("input:not([disabled])").focus();
    }, report));
    if (!shown) {
      shown = [Date.now(), state.language];
      setTimeout(mark, 0, { mark: "shown", language: state.language }); // once the banner is on the page
    }
    show(bannerBox(
      element("p", { id: "cw-intro", text: config.texts.intro }),
      ...notices(),
      element("p", {}, link(config.policy.url, strings.policy_link)),
      element(
        "div",
        { class: "row" },
        // data-choice: what the compliance scanner clicks, in any language (consent/scanner/browse.py)
        button(strings.accept_all, choose((doNotTrack) => allChoices(true, doNotTrack)), { "data-focus": 1, "data-choice": "all" }),
        button(strings.reject_all, choose(() => allChoices(false)), { "data-choice": "none" }),
        customize,
        save
      )
    ));
  }

  // "under_14": what widgets said before a site could set its age, 14 or 18.
  const minor = (age) => age === "minor" || age === "under_14";
  const ageText = (key) => state.config.strings[key].replace("{age}", state.config.age_threshold || 14);

  // The floating button that reopens the preference centre at any time.
  function renderButton(focus) {
    show(state.stored && button(state.config.strings.manage, showPreferences, { class: "fab", lang: state.language, "data-focus": !!focus }));
  }

  const showPreferences = () => lazy().then((more) => more.renderPreferences(), report);

  // ---- Lazy code: consent-lazy.js, loaded once, when first needed. It finds what it shares with this
  // script on its own <script> element, so neither defines another global.
  let loading = null;
  function lazy() {
    loading = loading || new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = LAZY;
      tag.nonce = script.nonce; // a host's nonce-based CSP trusts what its trusted script adds
      tag.consentKit = kit;
      tag.consentReady = resolve;
      tag.consentFailed = tag.onerror = () => {
        loading = null; // the next need tries again
        state.full = false;
        tag.remove();
        reject(new Error("consent.js: consent-lazy.js did not load"));
      };
      document.head.append(tag);
    });
    return loading;
  }

  function report(error) {
    console.warn(error);
  }

  // ---- Public API: the only global this script defines
  const api = {
    /** The decision in force on this device, or null before the visitor made one. */
    get() {
      const stored = state.stored;
      if (!stored) return null;
      const profiling = state.config ? state.config.purposes.filter((purpose) => purpose.tags.includes("profiling")) : [];
      return {
        policyVersion: stored.v,
        choices: Object.assign({}, stored.c),
        // False means: show the non-personalized experience.
        personalized: profiling.length > 0 && profiling.every((purpose) => stored.c[purpose.id] === true),
        doNotTrack: !!stored.d,
        signals: Object.assign({}, signals),
        receiptId: stored.r || null,
        pending: !DEVICE && readQueue().length > 0,
      };
    },
    on(eventName, listener) {
      if (eventName === "change") state.listeners.push(listener);
    },
    showPreferences() {
      if (state.config) showPreferences();
      else state.wantsPreferences = true;
    },
    /** Asks for one purpose at the moment of use, in its own step. Resolves with
     *  {purpose, granted, receiptId, pending}: pending while the record waits for the service. */
    ask(purposeId) {
      return ready.then(lazy).then((more) => more.ask(String(purposeId)));
    },
    /** The site's user, proven by the subject token its backend made; without a token, not bound. */
    setSubject(subjectId, token) {
      state.subject = subjectId ? String(subjectId) : null;
      state.token = (state.subject && token) || null;
      // Records of this user still queued take the fresher token.
      if (state.token) writeQueue(readQueue().map((record) => Object.assign(record, record.subject_id === state.subject && { subject_token: state.token })));
      if (state.config) sync();
    },
  };
  window.Consent = api;

  // ---- Start
  let started;
  const ready = new Promise((resolve, reject) => (started = [resolve, reject]));
  ready.catch(() => {}); // a failed start is reported once, by begin(), and to whoever asks
  async function start() {
    const loading = loadConfig(/^zh/i.test(document.documentElement.lang || navigator.language) ? "zh-CN" : "en"); // page, then browser
    const asking = askSubject(); // at the same time: the user may have decided on another device
    state.stored = readStored();
    runGatedScripts(); // the stored decision applies before any network round trip
    new MutationObserver(() => {
      runGatedScripts();
      if (state.config && document.querySelector(EMBEDS)) lazy().then((more) => more.embeds(), report);
    }).observe(document.documentElement, { childList: true, subtree: true });
    mount();
    await loading; // asked for first
    reconcile(await asking);
    settle(state.wantsPreferences);
    started[0]();
    flush();
  }

  // Applies the stored decision to the page, then shows the preference centre, the banner or the button.
  function settle(preferences) {
    if (preferences) showPreferences();
    else if (needsAsking()) renderBanner();
    else renderButton();
    runGatedScripts();
    requestAnimationFrame(() => setTimeout(applyToPage)); // once the banner painted: the rest waits its turn
    if (state.stored) emitChange();
  }

  // What consent-lazy.js shares with this script.
  const kit = {
    state, SITE, SERVICE, SITE_API, DEVICE, COOKIE, PENDING, EMBEDS, signals, post, loadConfig, decide, allChoices, granted, report, ownStep, minor, ageText, needsAsking,
    element, button, link, show, header, notices, setStatus, addStyles, styleInto, renderBanner, renderButton, settle,
    root: () => root,
  };

  const begin = () => start().catch((error) => {
    started[1](error); // Consent.ask fails too: there is no config to ask with
    report(error);
  });
  if (document.body) begin();
  else document.addEventListener("DOMContentLoaded", begin);
})();
