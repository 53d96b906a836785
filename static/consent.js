/*! consent.js: the embeddable consent banner and preference centre. One file, no dependencies,
 * everything inside a Shadow DOM. Embed:
 * <script src="https://HOST/static/consent.js" data-site="SITE_ID" [data-subject="USER_ID"] async></script>
 * API: Consent.get(), Consent.on("change", fn), Consent.showPreferences(), Consent.setSubject(id).
 */
(() => {
  "use strict";

  const script = document.currentScript || document.querySelector("script[data-site][src*='consent.js']");
  if (!script || window.Consent) return;

  // ---- Settings ------------------------------------------------------------------------------
  const SITE = script.dataset.site;
  const SERVICE = new URL(script.src).origin;
  const API = SERVICE + "/api/v1/";
  const COOKIE = "consent_" + SITE.replace(/[^a-z0-9-]/g, "");
  const PENDING = COOKIE + "_pending"; // localStorage: decisions not yet acknowledged by the service
  const COOKIE_MAX_AGE = 365 * 24 * 3600;
  const ASK_AGAIN_AFTER_REFUSAL = 48 * 3600 * 1000;
  const RETRY_MAX = 60000;

  // ---- State: one object; everything rendered or stored derives from it -----------------------
  const state = {
    config: null,
    configs: {}, // by language, so switching back and forth fetches once
    language: null,
    stored: null, // the decision kept in the first-party cookie, see writeStored()
    subject: script.dataset.subject || null,
    listeners: [],
    wantsPreferences: false, // showPreferences() called before the config arrived
    retryDelay: 1000,
    flushing: false,
  };

  // ---- Signals: what the browser says before the visitor does ---------------------------------
  const signals = {
    dnt: navigator.doNotTrack === "1" || window.doNotTrack === "1",
    gpc: navigator.globalPrivacyControl === true,
  };
  const browserOptsOut = signals.dnt || signals.gpc;

  // ---- Storage -------------------------------------------------------------------------------
  // The cookie holds the decision: v policy version, c choices, id visitor, t time, l language,
  // x refusal time (48-hour rule), d visitor's own Do-Not-Track, a age statement,
  // q idempotency key of the newest record, r/k its receipt id and access token.
  function readStored() {
    const entry = document.cookie.split("; ").find((part) => part.startsWith(COOKIE + "="));
    try {
      return entry ? JSON.parse(decodeURIComponent(entry.slice(COOKIE.length + 1))) : null;
    } catch (error) {
      return null; // a damaged cookie counts as no decision: the visitor is asked again
    }
  }

  function writeStored(decision) {
    const secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = `${COOKIE}=${encodeURIComponent(JSON.stringify(decision))}; Max-Age=${COOKIE_MAX_AGE}; Path=/; SameSite=Lax${secure}`;
    state.stored = decision;
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
      if (queue.length) localStorage.setItem(PENDING, JSON.stringify(queue));
      else localStorage.removeItem(PENDING);
    } catch (error) {
      /* memory only */
    }
  }

  function randomId() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // ---- Network -------------------------------------------------------------------------------
  async function loadConfig(language) {
    if (!state.configs[language]) {
      const response = await fetch(`${API}sites/${encodeURIComponent(SITE)}/config?lang=${language}`, { credentials: "omit" });
      if (!response.ok) throw new Error(`consent.js: config for site ${SITE} failed (${response.status})`);
      state.configs[language] = await response.json();
    }
    state.language = language;
    state.config = state.configs[language];
  }

  // Sends pending records oldest first. A network failure or a server error keeps them and retries
  // with backoff; each keeps its idempotency key, so a retry of a record that did arrive adds nothing.
  async function flush() {
    if (state.flushing) return;
    state.flushing = true;
    try {
      for (let queue = readQueue(); queue.length; queue = readQueue()) {
        const body = queue[0];
        const response = await fetch(API + "consents", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
          credentials: "omit",
          keepalive: true,
        });
        if (response.status >= 500 || response.status === 429) throw new Error(`consent.js: service answered ${response.status}`);
        writeQueue(readQueue().filter((pending) => pending.idempotency_key !== body.idempotency_key));
        if (!response.ok) {
          report(new Error(`consent.js: the decision was refused (${response.status})`));
          continue;
        }
        const result = await response.json();
        if (state.stored && state.stored.q === body.idempotency_key) {
          writeStored(Object.assign({}, state.stored, { r: result.receipt_id, k: result.receipt_token }));
          setStatus("saved");
          emitChange();
        }
      }
      state.retryDelay = 1000;
    } catch (error) {
      setStatus("save_failed");
      setTimeout(flush, state.retryDelay);
      state.retryDelay = Math.min(state.retryDelay * 2, RETRY_MAX);
    } finally {
      state.flushing = false;
    }
  }
  window.addEventListener("online", flush);

  // ---- Decisions -----------------------------------------------------------------------------
  function pageLanguage() {
    return /^zh/i.test(document.documentElement.lang || navigator.language || "") ? "zh-CN" : "en";
  }

  const optional = () => state.config.purposes.filter((purpose) => !purpose.required);

  // "Accept all" never grants a sensitive purpose (those need their own step), nor a tracking one
  // when the browser or the visitor asked not to be tracked: those must be turned on one by one.
  function allChoices(grant, doNotTrack) {
    const choices = {};
    for (const purpose of state.config.purposes) {
      choices[purpose.id] = purpose.required || (grant && !purpose.sensitive && !(purpose.tracking && (browserOptsOut || doNotTrack)));
    }
    return choices;
  }

  function decide(choices, method, doNotTrack, age) {
    const now = Date.now();
    const refused = !optional().some((purpose) => choices[purpose.id]);
    const decision = {
      v: state.config.policy.version,
      c: choices,
      id: (state.stored && state.stored.id) || randomId(),
      t: now,
      l: state.language,
      d: !!doNotTrack,
      a: age || (state.stored && state.stored.a) || null,
      q: randomId(),
    };
    if (refused) decision.x = now;
    // Apply at once on this device; the record follows, now or when the service is reachable.
    writeStored(decision);
    apply();
    writeQueue(readQueue().concat({
      site_id: SITE,
      subject_id: state.subject,
      visitor_id: decision.id,
      choices,
      policy_version: decision.v,
      language: state.language,
      signals,
      do_not_track: decision.d,
      collection_method: method,
      idempotency_key: decision.q,
      separate_consents: state.config.purposes.filter((purpose) => purpose.sensitive && choices[purpose.id]).map((purpose) => purpose.id),
      age_statement: state.config.age_gate ? decision.a : null,
    }));
    flush();
  }

  function needsAsking() {
    const stored = state.stored;
    return !stored || stored.v !== state.config.policy.version || (stored.x && Date.now() - stored.x >= ASK_AGAIN_AFTER_REFUSAL);
  }

  function granted(purposeId) {
    return !!(state.stored && state.stored.c[purposeId] === true);
  }

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

  function apply() {
    runGatedScripts();
    emitChange();
  }

  function emitChange() {
    const detail = api.get();
    window.dispatchEvent(new CustomEvent("consent:change", { detail }));
    for (const listener of state.listeners) listener(detail);
  }

  // ---- Rendering: everything inside a Shadow DOM, every text set as text, never as HTML ---------
  const STYLES = `
    :host { all: initial; --bg: #fff; --fg: #1a1a1a; --muted: #4b5563; --line: #d1d5db; --accent: #1f3a8a; --on-accent: #fff;
      --link: #0b57d0; --note: #fef3c7; --on-note: #3b2f00; --focus: #b45309; }
    @media (prefers-color-scheme: dark) { :host { --bg: #1f2937; --fg: #f3f4f6; --muted: #d1d5db; --line: #4b5563;
      --accent: #bfdbfe; --on-accent: #111827; --link: #93c5fd; --note: #422006; --on-note: #fde68a; --focus: #fbbf24; } }
    .box { position: fixed; z-index: 2147483647; box-sizing: border-box; overflow: auto; padding: 1.25rem; border-radius: .75rem;
      background: var(--bg); color: var(--fg); box-shadow: 0 .5rem 2rem rgba(0,0,0,.35); line-height: 1.5; font-size: 15px;
      font-family: system-ui, -apple-system, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; }
    .banner { left: 50%; bottom: 1rem; transform: translateX(-50%); width: min(40rem, calc(100vw - 2rem)); max-height: calc(100vh - 2rem); }
    .modal { left: 50%; top: 50%; transform: translate(-50%, -50%); width: min(44rem, calc(100vw - 2rem)); max-height: calc(100vh - 2rem); }
    .overlay { position: fixed; inset: 0; z-index: 2147483646; background: rgba(0,0,0,.5); }
    @media (prefers-reduced-motion: no-preference) { .box { animation: rise .2s ease-out; } }
    @keyframes rise { from { opacity: 0; } }
    h2 { margin: 0 0 .5rem; font-size: 1.15rem; } h3 { margin: 0; font-size: 1rem; }
    p { margin: 0 0 .75rem; } a { color: var(--link); }
    .head { display: flex; justify-content: space-between; gap: .5rem; align-items: start; }
    .row { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: .75rem; }
    button { flex: 1 1 8rem; font: inherit; padding: .55rem 1rem; border-radius: .5rem; cursor: pointer;
      border: 2px solid var(--accent); background: var(--accent); color: var(--on-accent); }
    .head button, .fab { flex: none; background: var(--bg); color: var(--fg); padding: .3rem .7rem; }
    :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
    ul { list-style: none; margin: .5rem 0 0; padding: 0; }
    li { padding: .5rem 0; border-top: 1px solid var(--line); }
    label { display: flex; gap: .5rem; align-items: center; font-weight: 600; }
    input { width: 1.1rem; height: 1.1rem; margin: 0; accent-color: var(--accent); }
    li p, li ul, .confirm { margin: .25rem 0 0 1.6rem; font-size: .9em; color: var(--muted); }
    li li { padding: .25rem 0; border: 0; }
    .note { padding: .5rem .75rem; border-radius: .5rem; background: var(--note); color: var(--on-note); }
    .note a { color: inherit; }
    .confirm { padding: .75rem; border: 2px solid var(--accent); border-radius: .5rem; color: var(--fg); }
    .fab { position: fixed; left: 1rem; bottom: 1rem; z-index: 2147483645; font-size: 13px; border-radius: 2rem;
      font-family: system-ui, "Noto Sans CJK SC", sans-serif; box-shadow: 0 .25rem 1rem rgba(0,0,0,.3); }
    [hidden] { display: none !important; }
  `;

  let host = null;
  let root = null;
  let statusLine = null;

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

  function mount() {
    host = element("div", { "data-consent-widget": SITE });
    root = host.attachShadow({ mode: "open" });
    if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      // A constructed sheet needs no inline <style>, so hosts with a strict CSP keep working.
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLES);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.append(element("style", { text: STYLES }));
    }
  }

  // Single-page apps may replace <body>: put the widget back whenever it is shown.
  function show(...nodes) {
    if (!host.isConnected) document.body.append(host);
    root.replaceChildren(...nodes.filter(Boolean));
    statusLine = root.querySelector("[role=status]");
  }

  function setStatus(key) {
    if (statusLine) statusLine.textContent = state.config.strings[key];
  }

  async function switchLanguage(view) {
    await loadConfig(state.language === "en" ? "zh-CN" : "en");
    view();
  }

  function header(id, title, view, closer) {
    const other = state.language === "en" ? "zh-CN" : "en";
    return element(
      "div",
      { class: "head" },
      element("h2", { id, text: title }),
      element(
        "div",
        { class: "row" },
        button(state.config.strings.switch_language, () => switchLanguage(view).catch(report), { lang: other, "data-action": "language" }),
        closer
      )
    );
  }

  function notices() {
    const { config } = state;
    const changed = state.stored && state.stored.v !== config.policy.version;
    return [
      browserOptsOut && element("p", { class: "note", role: "note", text: config.strings.signal_notice }),
      changed && element(
        "p",
        { class: "note", role: "note" },
        `${config.strings.policy_changed} ${config.policy.changes || ""} `,
        element("a", { href: config.policy.archive_url, target: "_blank", rel: "noopener", text: config.strings.what_changed })
      ),
    ];
  }

  // One toggle per purpose. `onChange` runs after every effective change; a sensitive purpose is only
  // turned on through its own confirmation, which names every recipient before the visitor agrees.
  function purposeList(choices, onChange) {
    const { strings } = state.config;
    const items = state.config.purposes.map((purpose) => {
      const input = element("input", { type: "checkbox", "data-purpose": purpose.id, "aria-describedby": "d-" + purpose.id });
      input.checked = purpose.required || choices[purpose.id] === true;
      input.disabled = purpose.required;
      const confirm = purpose.sensitive && element(
        "div",
        { class: "confirm", role: "group", "aria-label": `${strings.separate_badge}: ${purpose.title}`, hidden: true },
        element("p", { text: strings.separate_intro }),
        element(
          "div",
          { class: "row" },
          button(strings.separate_agree, () => {
            confirm.hidden = true;
            input.checked = true;
            input.focus();
            onChange();
          }, { "data-action": "separate-agree" }),
          button(strings.cancel, () => {
            confirm.hidden = true;
            input.focus();
          })
        )
      );
      input.addEventListener("change", () => {
        if (confirm && input.checked) {
          input.checked = false;
          confirm.hidden = false;
          confirm.querySelector("button").focus();
        } else {
          onChange();
        }
      });
      const recipients = purpose.recipients.map((recipient) =>
        element("li", { text: `${strings.recipient}: ${recipient.name} (${recipient.country || "—"}) · ${recipient.purpose} · ${recipient.contact}` })
      );
      return element(
        "li",
        {},
        element("label", {}, input, element("span", { text: purpose.title })),
        element("p", {
          id: "d-" + purpose.id,
          text: [purpose.required && strings.always_on, purpose.sensitive && strings.separate_badge, purpose.description].filter(Boolean).join(" · "),
        }),
        recipients.length && element("ul", {}, ...recipients),
        confirm
      );
    });
    return element("ul", { "data-purposes": "" }, ...items);
  }

  function readChoices(list) {
    const choices = {};
    for (const input of list.querySelectorAll("input[data-purpose]")) choices[input.dataset.purpose] = input.checked;
    return choices;
  }

  // The visitor's own Do-Not-Track: turns every tracking purpose off and keeps it off while chosen.
  function doNotTrackToggle(list, checked, onChange) {
    const { strings } = state.config;
    const input = element("input", { type: "checkbox", "data-action": "do-not-track", "aria-describedby": "dnt-help" });
    input.checked = checked;
    const sync = () => {
      for (const purpose of state.config.purposes.filter((each) => each.tracking)) {
        const toggle = list.querySelector(`[data-purpose="${purpose.id}"]`);
        if (input.checked) toggle.checked = false;
        toggle.disabled = input.checked;
      }
    };
    sync();
    input.addEventListener("change", () => {
      sync();
      onChange();
    });
    return [input, element("li", {}, element("label", {}, input, element("span", { text: strings.do_not_track })), element("p", { id: "dnt-help", text: strings.do_not_track_help }))];
  }

  function ageStep() {
    const { config } = state;
    const strings = config.strings;
    const underAge = () => {
      decide(allChoices(false), "banner", false, "under_14");
      show(element(
        "section",
        { class: "box banner", role: "dialog", "aria-labelledby": "cw-title", lang: state.language },
        element("h2", { id: "cw-title", text: config.texts.title }),
        element("p", { class: "note", text: strings.guardian_needed }),
        element("div", { class: "row" }, button(strings.close, renderButton, { "data-action": "close" }))
      ));
      root.querySelector("button").focus();
    };
    return element(
      "section",
      { class: "box banner", role: "dialog", "aria-labelledby": "cw-title", "aria-describedby": "cw-age", lang: state.language },
      header("cw-title", config.texts.title, renderBanner),
      element("p", { id: "cw-age", text: strings.age_question }),
      element(
        "div",
        { class: "row" },
        button(strings.age_adult, () => {
          state.age = "adult";
          renderBanner();
        }, { "data-action": "adult" }),
        button(strings.age_under_14, underAge, { "data-action": "under-14" })
      )
    );
  }

  function renderBanner() {
    const { config } = state;
    const strings = config.strings;
    if (config.age_gate && !state.age && !(state.stored && state.stored.a === "adult")) {
      show(ageStep());
      root.querySelector("button[data-action=adult]").focus({ preventScroll: true });
      return;
    }
    const age = state.age || "adult";
    const list = purposeList(state.stored ? state.stored.c : {}, () => {});
    const [dnt, dntItem] = doNotTrackToggle(list, !!(state.stored && state.stored.d), () => {});
    list.append(dntItem);
    list.hidden = true;
    const save = button(strings.save, () => decide(readChoices(list), "banner", dnt.checked, age), { "data-action": "save", hidden: true });
    const customize = button(strings.customize, () => {
      list.hidden = save.hidden = false;
      customize.hidden = true;
      list.querySelector("input:not([disabled])").focus();
    }, { "data-action": "customize" });
    show(element(
      "section",
      { class: "box banner", role: "dialog", "aria-labelledby": "cw-title", "aria-describedby": "cw-intro", lang: state.language },
      header("cw-title", config.texts.title, renderBanner),
      element("p", { id: "cw-intro", text: config.texts.intro }),
      ...notices(),
      element("p", {}, element("a", { href: config.policy.url, target: "_blank", rel: "noopener", text: strings.policy_link })),
      list,
      element(
        "div",
        { class: "row" },
        button(strings.accept_all, () => decide(allChoices(true, dnt.checked), "banner", dnt.checked, age), { "data-action": "accept-all" }),
        button(strings.reject_all, () => decide(allChoices(false), "banner", dnt.checked, age), { "data-action": "reject-all" }),
        customize,
        save
      )
    ));
    root.querySelector("button[data-action=accept-all]").focus({ preventScroll: true });
    // After the decision the banner gives way to the floating button.
    for (const action of ["accept-all", "reject-all", "save"]) root.querySelector(`[data-action=${action}]`).addEventListener("click", renderButton);
  }

  // The preference centre: every toggle records at once, so withdrawing is one click per purpose.
  function renderPreferences() {
    const { config } = state;
    const strings = config.strings;
    const stored = state.stored;
    const age = (stored && stored.a) || "adult";
    const underAge = age === "under_14";
    const record = () => decide(readChoices(list), "preference_centre", dnt.checked, age);
    const list = purposeList(stored ? stored.c : {}, record);
    const [dnt, dntItem] = doNotTrackToggle(list, !!(stored && stored.d), record);
    list.append(dntItem);
    if (underAge) for (const input of list.querySelectorAll("input")) input.disabled = true;
    const setAll = (grant) => {
      for (const input of list.querySelectorAll("input[data-purpose]")) input.checked = allChoices(grant, dnt.checked)[input.dataset.purpose];
      record();
    };
    const query = stored && stored.r ? `?receipt=${encodeURIComponent(stored.r)}&token=${encodeURIComponent(stored.k)}&lang=${state.language}` : "";
    const dialog = element(
      "section",
      { class: "box modal", role: "dialog", "aria-modal": "true", "aria-labelledby": "cw-prefs", lang: state.language, onkeydown: trapFocus },
      header("cw-prefs", strings.preferences_title, renderPreferences, button(strings.close, closePreferences, { "data-action": "close" })),
      ...notices(),
      underAge && element("p", { class: "note", text: strings.guardian_needed }),
      list,
      element(
        "div",
        { class: "row" },
        !underAge && button(strings.accept_all, () => setAll(true), { "data-action": "accept-all" }),
        button(strings.withdraw_all, () => setAll(false), { "data-action": "withdraw-all" })
      ),
      element("p", { role: "status" }),
      element(
        "p",
        { class: "row" },
        element("a", { href: config.policy.url, target: "_blank", rel: "noopener", text: strings.policy_link }),
        query && element("a", { href: `${SERVICE}/receipts/${encodeURIComponent(stored.r)}?token=${encodeURIComponent(stored.k)}&lang=${state.language}`, target: "_blank", rel: "noopener", text: strings.receipt_link }),
        query && element("a", { href: `${SERVICE}/me/${encodeURIComponent(SITE)}${query}`, target: "_blank", rel: "noopener", text: strings.history_link })
      )
    );
    show(element("div", { class: "overlay", onclick: closePreferences }), dialog);
    dialog.querySelector("input:not([disabled]), button").focus();
  }

  function trapFocus(event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      closePreferences();
      return;
    }
    if (event.key !== "Tab") return;
    const focusable = [...event.currentTarget.querySelectorAll("button, input:not([disabled]), a[href]")].filter((node) => node.offsetParent);
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && root.activeElement === first) {
      last.focus();
      event.preventDefault();
    } else if (!event.shiftKey && root.activeElement === last) {
      first.focus();
      event.preventDefault();
    }
  }

  function closePreferences() {
    renderButton();
    root.querySelector(".fab").focus();
  }

  // The small floating button that reopens the preference centre at any time.
  function renderButton() {
    show(state.stored && button(state.config.strings.manage, renderPreferences, { class: "fab", "data-action": "preferences", lang: state.language }));
  }

  function report(error) {
    console.warn(error); // eslint-disable-line no-console
  }

  // ---- Public API: the only global this script defines ----------------------------------------
  const api = {
    /** The decision in force on this device, or null before the visitor made one. */
    get() {
      const stored = state.stored;
      if (!stored) return null;
      const profiling = state.config ? state.config.purposes.filter((purpose) => purpose.kind === "profiling") : [];
      return {
        policyVersion: stored.v,
        choices: Object.assign({}, stored.c),
        // False means: show the non-personalized experience.
        personalized: profiling.length > 0 && profiling.every((purpose) => stored.c[purpose.id] === true),
        doNotTrack: !!stored.d,
        signals: Object.assign({}, signals),
        receiptId: stored.r || null,
        pending: readQueue().length > 0,
      };
    },
    on(eventName, listener) {
      if (eventName === "change") state.listeners.push(listener);
    },
    showPreferences() {
      if (state.config) renderPreferences();
      else state.wantsPreferences = true;
    },
    setSubject(subjectId) {
      state.subject = subjectId ? String(subjectId) : null;
    },
  };
  window.Consent = api;

  // ---- Start ---------------------------------------------------------------------------------
  async function start() {
    state.stored = readStored();
    runGatedScripts(); // the stored decision applies before any network round trip
    new MutationObserver(runGatedScripts).observe(document.documentElement, { childList: true, subtree: true });
    mount();
    await loadConfig(pageLanguage());
    if (state.stored) emitChange();
    if (state.wantsPreferences) renderPreferences();
    else if (needsAsking()) renderBanner();
    else renderButton();
    flush();
  }

  if (document.body) start().catch(report);
  else document.addEventListener("DOMContentLoaded", () => start().catch(report));
})();
