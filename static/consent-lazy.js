/*! consent-lazy.js: what consent.js needs only after its banner: the preference centre, embeds held
behind placeholders, and the clearing of refused purposes' cookies and storage. README.md, "The widget". */
(() => {
  "use strict";

  // consent.js loads this file and leaves what it shares on the <script> element that loads it.
  const tag = document.currentScript;
  const kit = tag && tag.consentKit;
  if (!kit) return;
  const { state, SERVICE, SITE_API, DEVICE, post, decide, allChoices, granted, report, ownStep, minor, ageText } = kit;
  const { element, button, link, show, header, notices, renderBanner, renderButton } = kit;

  kit.addStyles(`
    .modal { top: 50%; transform: translate(-50%, -50%); width: min(44rem, calc(100vw - 2rem)); }
    .overlay { position: fixed; inset: 0; z-index: 2147483646; background: rgba(0,0,0,.5); }
    ul { list-style: none; margin: .5rem 0 0; padding: 0; }
    li { padding: .5rem 0; border-top: 1px solid var(--line); }
    label { display: flex; gap: .5rem; align-items: center; font-weight: 600; }
    input { width: 1.1rem; height: 1.1rem; margin: 0; accent-color: var(--accent); }
    li p, li ul, .confirm { margin: .25rem 0 0 1.6rem; font-size: .9em; color: var(--muted); }
    li li { padding: .25rem 0; border: 0; }
    .confirm { padding: .75rem; border: 2px solid var(--accent); border-radius: .5rem; color: var(--fg); }
    .embed { display: flex; flex-direction: column; justify-content: center; gap: .5rem; box-sizing: border-box;
      padding: 1rem; border: 1px solid var(--line); border-radius: .5rem; background: var(--bg); color: var(--fg); }
    .embed { height: 100%; }
    .embed p { margin: 0; }
    h3 { margin: .75rem 0 0; font-size: 1rem; }
  `);

  // What the preference centre and Consent.ask say of a purpose besides its title: why it is processed
  // when that is not consent, when it is asked, and its description.
  function about(purpose) {
    const { strings } = state.config;
    const basis = purpose.required && [strings.always_on, strings["basis_" + purpose.basis]];
    const asked = purpose.ask && strings.asked_when.replace("{context}", () => purpose.ask);
    return [...(basis || []), ownStep(purpose) && strings.separate_badge, asked, purpose.description].filter(Boolean).join(" · ");
  }

  // What agreeing to `purpose` means, said above its "I agree" button: separate consent when it or one of
  // the `others` it turns on too needs it, and which others those are.
  function agreement(purpose, others) {
    const { strings } = state.config;
    const titles = others.map((each) => each.title).join(", ");
    return [[purpose, ...others].some(ownStep) && strings.separate_intro, titles && strings.requires_prompt.replace("{purpose}", () => titles)].filter(Boolean).join(" ");
  }

  // Recipients, cookies, storage keys, and how long, from where and what refusing means, as declared.
  function details(purpose) {
    const { strings } = state.config;
    const items = purpose.recipients.map((recipient) =>
      element("li", { text: [`${strings.recipient}: ${recipient.name} (${recipient.country || "—"})`, recipient.purpose, recipient.contact, recipient.rights].filter(Boolean).join(" · ") })
    ).concat((purpose.cookies || []).map((cookie) => element("li", {
      text: [`${strings.cookie}: ${cookie.n || cookie.p}`, cookie.d, cookie.l, cookie.t && strings.third_party, cookie.x].filter(Boolean).join(" · "),
    })), (purpose.storage || []).map((entry) => element("li", { text: `${strings.storage}: ${entry.n || entry.p}` })),
    ["retention", "sources", "refusal"].filter((key) => purpose[key]).map((key) => element("li", { text: `${strings[key]}: ${purpose[key]}` })));
    return items.length ? element("ul", {}, ...items) : null;
  }

  // One toggle per purpose, then the visitor's own Do-Not-Track. `onChange` runs after every effective
  // change. A purpose of its own step (separate consent, asked in context) turns on only through that
  // step, one that requires others only once the visitor agrees to turn those on too; turning one off
  // turns off what requires it. Recipients, cookies and storage keys are listed beforehand.
  function choiceList(onChange) {
    const { strings, purposes } = state.config;
    const stored = state.stored || { c: {} };
    const toggle = (id, title, help, checked) => {
      const input = element("input", { type: "checkbox", "data-purpose": id || null, "aria-describedby": "d-" + id });
      input.checked = checked;
      return [input, element("label", {}, input, element("span", { text: title })), element("p", { id: "d-" + id, text: help })];
    };
    const [dnt, ...dntItem] = toggle("", strings.do_not_track, strings.do_not_track_help, !!stored.d);
    const syncTracking = () => {
      for (const purpose of purposes.filter((each) => each.tracking)) {
        const input = list.querySelector(`[data-purpose="${purpose.id}"]`);
        if (dnt.checked) input.checked = false;
        input.disabled = dnt.checked;
      }
    };
    const inputOf = (id) => list.querySelector(`[data-purpose="${id}"]`);
    const missing = (purpose) => (purpose.requires || []).filter((id) => !inputOf(id).checked);
    const cascade = () => {
      for (let off; (off = purposes.find((purpose) => inputOf(purpose.id).checked && missing(purpose).length)); ) inputOf(off.id).checked = false;
    };
    const items = purposes.map((purpose) => {
      const [input, ...parts] = toggle(purpose.id, purpose.title, about(purpose), purpose.required || stored.c[purpose.id] === true);
      input.disabled = purpose.required;
      let needed = [];
      const close = (agreed) => () => {
        step.hidden = true;
        input.checked = agreed;
        for (const id of agreed ? needed : []) inputOf(id).checked = true;
        input.focus();
        if (agreed) onChange();
      };
      const prompt = element("p", { id: "q-" + purpose.id });
      // Named by the separate consent it asks for, else by its question ("It needs ... as well").
      const step = (ownStep(purpose) || purpose.requires) && element(
        "div",
        { class: "confirm", role: "group", "aria-label": ownStep(purpose) && `${strings.separate_badge}: ${purpose.title}`, "aria-labelledby": !ownStep(purpose) && prompt.id, hidden: true },
        prompt,
        element("div", { class: "row" }, button(strings.separate_agree, close(true)), button(strings.cancel, close(false)))
      );
      input.addEventListener("change", () => {
        needed = input.checked ? missing(purpose) : [];
        if (!input.checked || !(ownStep(purpose) || needed.length)) {
          cascade();
          return onChange();
        }
        input.checked = false;
        prompt.textContent = agreement(purpose, needed.map((id) => purposes.find((each) => each.id === id)));
        step.hidden = false;
        step.querySelector("button").focus();
      });
      return element("li", {}, ...parts, details(purpose), step);
    });
    dnt.addEventListener("change", () => {
      syncTracking();
      onChange();
    });
    const list = element("ul", {}, ...items, element("li", {}, ...dntItem));
    syncTracking();
    return list;
  }

  function readChoices(list) {
    const choices = {};
    for (const input of list.querySelectorAll("[data-purpose]")) choices[input.dataset.purpose] = input.checked;
    return [choices, list.querySelector("input:not([data-purpose])").checked]; // and Do-Not-Track
  }

  // The preference centre: every toggle records at once, so withdrawing is one click per purpose.
  function renderPreferences() {
    const { config } = state;
    const strings = config.strings;
    const stored = state.stored;
    if (config.age_gate && !state.age && !(stored && stored.a)) return renderBanner(); // age first
    const age = state.age || (stored && stored.a) || "adult";
    const underAge = minor(age);
    const record = () => decide(...readChoices(list), "preference_centre", age);
    const list = choiceList(record);
    const setAll = (grant) => {
      const choices = allChoices(grant, readChoices(list)[1]);
      for (const input of list.querySelectorAll("[data-purpose]")) input.checked = choices[input.dataset.purpose];
      record();
    };
    if (underAge) for (const input of list.querySelectorAll("input")) input.disabled = true;
    const links = element(
      "p",
      { class: "row" },
      link(config.policy.url, strings.policy_link),
      stored && stored.r && link(`${SERVICE}/receipts/${encodeURIComponent(stored.r)}?token=${encodeURIComponent(stored.k)}&lang=${state.language}`, strings.receipt_link)
    );
    show(
      element("div", { class: "overlay", onclick: closePreferences }),
      element(
        "section",
        { class: "box modal", role: "dialog", "aria-modal": "true", "aria-labelledby": "cw-prefs", lang: state.language, onkeydown: trapFocus },
        header("cw-prefs", strings.preferences_title, renderPreferences, button(strings.close, closePreferences, { "data-focus": 1 })),
        ...notices(),
        underAge && element("p", { class: "note", text: stored && stored.g === "given" ? strings.guardian_decided : ageText("guardian_needed") }),
        // "Withdraw all" sits at the top, as easy to reach as any grant.
        element(
          "div",
          { class: "row" },
          !underAge && button(strings.accept_all, () => setAll(true)),
          button(strings.withdraw_all, () => setAll(false))
        ),
        element("p", { role: "status" }),
        list,
        links
      )
    );
    // The history opens with a short-lived link made for this visitor's credential or user's token.
    const secret = stored && stored.s;
    if (DEVICE || !(secret || state.token)) return;
    post(SITE_API + "history-link", { visitor_secret: secret, subject_id: state.subject, subject_token: state.token })
      .then((response) => response.ok && response.json())
      .then((answer) => answer && links.append(link(`${answer.history_url}&lang=${state.language}`, strings.history_link)), report);
  }

  function trapFocus(event) {
    if (event.key === "Escape") return closePreferences();
    if (event.key !== "Tab") return;
    const focusable = [...event.currentTarget.querySelectorAll("button, input:not([disabled]), a")].filter((node) => node.offsetParent);
    const edge = focusable[event.shiftKey ? 0 : focusable.length - 1];
    if (kit.root().activeElement === edge) {
      focusable[event.shiftKey ? focusable.length - 1 : 0].focus();
      event.preventDefault();
    }
  }

  const closePreferences = () => renderButton(true);

  // ---- Clearing: the declared cookies and storage keys of every purpose not granted are deleted. A
  // name, or a pattern where * stands for anything, is tried on its declared path and on every domain
  // it may have been set for: the host alone, the host and each parent domain (the registrable one
  // among them; a public suffix refuses harmlessly), and the declared domain. Out of reach: HttpOnly
  // cookies and other sites' (README, "What clearing cannot reach"). The widget's own never match.
  function matcher(entry) {
    if (entry.n) return (name) => name === entry.n;
    const parts = entry.p.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
    const pattern = new RegExp("^" + parts.join(".*") + "$");
    return (name) => pattern.test(name);
  }

  const ours = (name) => name === kit.COOKIE || name === kit.PENDING;

  function clear(purpose) {
    const present = document.cookie.split("; ").map((pair) => pair.split("=")[0]);
    const labels = location.hostname.split(".");
    const domains = [""].concat(labels.slice(0, -1).map((label, index) => "; Domain=" + labels.slice(index).join(".")));
    for (const cookie of purpose.cookies || []) {
      if (cookie.t) continue; // another site's: only its own opt-out reaches it
      const names = cookie.n ? [cookie.n] : present.filter(matcher(cookie));
      for (const name of names.filter((each) => !ours(each))) {
        for (const path of new Set(["/", cookie.h || "/"])) {
          for (const domain of cookie.d ? domains.concat("; Domain=" + cookie.d) : domains) {
            document.cookie = `${name}=; Max-Age=0; Path=${path}${domain}`;
          }
        }
      }
    }
    for (const entry of purpose.storage || []) {
      const matches = matcher(entry);
      for (const area of entry.a === "l" ? ["localStorage"] : entry.a === "s" ? ["sessionStorage"] : ["localStorage", "sessionStorage"]) {
        try {
          const storage = window[area];
          for (const key of Object.keys(storage).filter((each) => matches(each) && !ours(each))) storage.removeItem(key);
        } catch (error) {
          /* storage refused (sandboxed frames): nothing stored there either */
        }
      }
    }
  }

  // The decision on the page: refused purposes cleared, embeds shown or held back. `before`: the choices
  // the decision replaced; a site may ask for a reload after a withdrawal, to stop trackers still running.
  function apply(before) {
    const withdrawn = [];
    for (const purpose of state.stored ? state.config.purposes : []) { // nothing is refused before a decision
      if (purpose.required || granted(purpose.id)) continue;
      clear(purpose);
      if (before && before[purpose.id] === true) withdrawn.push(purpose.id);
    }
    // A withdrawal outranks "Load once": those embeds go back behind their placeholders too.
    for (const embed of document.querySelectorAll(kit.EMBEDS)) {
      if (embed.dataset.consent.split(/\s+/).some((id) => withdrawn.includes(id))) loadedOnce.delete(embed);
    }
    embeds();
    if (withdrawn.length && state.config.reload_on_withdrawal) location.reload(); // the record is queued: it survives
  }

  // ---- Embeds: <iframe data-consent="video" data-src="…"> (and <img>, <video>, <audio>) has no src,
  // so it loads nothing until every purpose it names is granted; until then a placeholder stands in
  // front of it. A withdrawal puts it back behind its placeholder: a fresh copy without src replaces
  // it, which unloads what it played. "Load once" loads one embed for this page view, recording nothing.
  const loadedOnce = new WeakSet();
  const placeholders = new WeakMap(); // embed -> its placeholder

  // Only an http(s) address ever becomes a src: a data-src slipped into the page through a sanitizer that
  // lets data-* attributes pass must not turn into a javascript: frame.
  function source(embed) {
    try {
      const url = new URL(embed.dataset.src, location.href);
      return /^https?:$/.test(url.protocol) ? url : null;
    } catch (error) {
      return null;
    }
  }

  function embeds() {
    for (const embed of document.querySelectorAll(kit.EMBEDS)) {
      const url = source(embed);
      if (!url) continue; // never loaded, never offered
      const purposes = embed.dataset.consent.split(/\s+/);
      const allowed = loadedOnce.has(embed) || purposes.every(granted);
      const loaded = embed.hasAttribute("data-consent-loaded");
      if (allowed && !loaded) {
        if (placeholders.has(embed)) placeholders.get(embed).remove();
        embed.style.removeProperty("display");
        embed.setAttribute("data-consent-loaded", "");
        embed.src = url.href;
      } else if (!allowed && loaded) {
        const blocked = embed.cloneNode(true);
        for (const name of ["src", "data-consent-loaded"]) blocked.removeAttribute(name);
        embed.replaceWith(blocked); // picked up again below, as any embed without its placeholder
        holdBack(blocked, purposes, url);
      } else if (!allowed && !(placeholders.has(embed) && placeholders.get(embed).isConnected)) {
        holdBack(embed, purposes, url);
      }
    }
  }

  function holdBack(embed, purposes, url) {
    const { strings } = state.config;
    const known = purposes.map((id) => state.config.purposes.find((purpose) => purpose.id === id));
    const titles = known.map((purpose, index) => (purpose ? purpose.title : purposes[index])).join(", ");
    const provider = embed.dataset.provider || url.hostname;
    const fill = (text) => text.replace("{provider}", () => provider).replace("{purpose}", () => titles);
    const width = embed.getAttribute("width"), height = embed.getAttribute("height");
    const stand = element("div", { "data-consent-placeholder": embed.dataset.consent });
    stand.style.cssText = `display:block;max-width:100%;width:${width ? width + "px" : "100%"};` +
      (height ? `height:${height}px` : "aspect-ratio:16/9");
    const shadow = stand.attachShadow({ mode: "open" });
    kit.styleInto(shadow);
    shadow.append(element(
      "div",
      { class: "embed", role: "group", "aria-label": provider, lang: state.language },
      element("p", { text: fill(strings.embed_blocked) }),
      element(
        "div",
        { class: "row" },
        button(strings.load_once, () => {
          loadedOnce.add(embed);
          embeds();
        }),
        known.every(Boolean) && button(fill(strings.always_allow), () => alwaysAllow(known))
      )
    ));
    embed.style.setProperty("display", "none", "important"); // whatever the page's own styles say
    embed.before(stand);
    placeholders.set(embed, stand);
  }

  // "Always allow" is a decision like any other, with its own receipt. Where the banner or the
  // preference centre would ask more first (age, a separate consent, the visitor's own Do-Not-Track
  // against a tracking purpose), it opens there instead of deciding.
  function alwaysAllow(purposes) {
    const stored = state.stored;
    const age = state.age || (stored && stored.a) || null;
    if (state.config.age_gate && age !== "adult") return renderBanner();
    if (purposes.some((purpose) => ownStep(purpose) || (purpose.requires || []).some((id) => !granted(id)) || (purpose.tracking && stored && stored.d))) return renderPreferences();
    const choices = Object.assign(stored ? Object.assign({}, stored.c) : allChoices(false), ...purposes.map((purpose) => ({ [purpose.id]: true })));
    decide(choices, !!(stored && stored.d), "embed", age);
    if (!kit.root().querySelector(".modal")) renderButton();
  }

  // Consent.ask: one purpose, asked at the moment of use, in a dialog of its own with everything the
  // preference centre says of it. Agreeing also turns on what it requires, each shown in the dialog as
  // well. Not asked: a purpose already granted, a visitor under the site's age, a tracking purpose
  // while the visitor's own Do-Not-Track is on (the preference centre turns that off). Resolves once
  // the service answered, or the record waits for it (pending).
  function ask(purposeId) {
    const { strings, purposes } = state.config;
    const purpose = purposes.find((each) => each.id === purposeId);
    if (!purpose || purpose.required) return Promise.reject(new Error(`consent.js: no purpose ${purposeId} to ask for`));
    const stored = state.stored;
    const age = state.age || (stored && stored.a) || null;
    const answer = (given) => ({ purpose: purposeId, granted: given, receiptId: given ? state.stored.r || null : null, pending: given && !DEVICE && !state.stored.r });
    const refusing = (state.config.age_gate && minor(age)) || (purpose.tracking && stored && stored.d);
    if (granted(purposeId) || refusing) return Promise.resolve(answer(granted(purposeId)));
    if (state.config.age_gate && age !== "adult") return Promise.resolve(renderBanner()).then(() => answer(false)); // age first
    const needed = (purpose.requires || []).filter((id) => !granted(id)).map((id) => purposes.find((each) => each.id === id));
    const back = () => (kit.needsAsking() ? renderBanner() : renderButton()); // what showed before
    return new Promise((resolve) => {
      const finish = (agreed) => () => {
        if (!agreed) return resolve(answer(false), back());
        const choices = Object.assign(stored ? Object.assign({}, stored.c) : allChoices(false), ...[purpose, ...needed].map((each) => ({ [each.id]: true })));
        Promise.resolve(decide(choices, !!(stored && stored.d), "in_context", age || "adult")).then(() => resolve(answer(true)), report);
        back();
      };
      show(
        element("div", { class: "overlay" }),
        element(
          "section",
          { class: "box modal", role: "dialog", "aria-modal": "true", "aria-labelledby": "cw-ask", lang: state.language,
            onkeydown: (event) => (event.key === "Escape" ? finish(false)() : trapFocus(event)) },
          header("cw-ask", purpose.title, () => ask(purposeId).then(resolve)),
          element("p", { text: about(purpose) }),
          details(purpose),
          ...needed.map((each) => element("section", {}, element("h3", { text: each.title }), element("p", { text: about(each) }), details(each))),
          element("p", { class: "note", text: agreement(purpose, needed) }),
          element("div", { class: "row" }, button(strings.separate_agree, finish(true), { "data-focus": 1 }), button(strings.cancel, finish(false)))
        )
      );
    });
  }

  // Ready once the config is whole: descriptions, recipients, cookie details and these screens' strings.
  // A policy version published since the banner's view arrived is shown before anything is decided
  // under it: what the visitor saw is what gets recorded.
  const shown = state.config.policy.version;
  state.full = true;
  kit.loadConfig(state.language).then(() => {
    tag.consentReady({ choiceList, readChoices, renderPreferences, apply, embeds, ask });
    if (state.config.policy.version !== shown) kit.settle();
  }, tag.consentFailed);
})();
