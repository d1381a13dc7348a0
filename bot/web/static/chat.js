// The family's side of the web chat: long-polls the conversation, sends messages through a
// persistent outbox (same client_id on every retry, so the server can de-duplicate), and renders
// the bot's choices as buttons. Plain ES2020, no build step, no dependencies. Every user-visible
// string comes from the server-rendered #i18n block; bot and family text is only ever set with
// textContent, never parsed as HTML.
"use strict";

(() => {
  const root = document.documentElement;
  const byId = (id) => document.getElementById(id);

  const readJson = (id) => {
    const node = byId(id);
    if (!node) return {};
    try {
      return JSON.parse(node.textContent) || {};
    } catch (_error) {
      return {};
    }
  };

  const config = readJson("chat-config");
  const t = readJson("i18n");
  const API = String(config.api_base || "/chat/api").replace(/\/+$/, "");
  const PAGE_LANG = root.lang || "en";
  const PAGE_DIR = root.dir || "ltr";

  const POLL_WAIT_S = 25;
  const POLL_TIMEOUT_MS = (POLL_WAIT_S + 15) * 1000;
  const POST_TIMEOUT_MS = 20000;
  const MAX_BACKOFF_MS = 10000;
  const FAILURES_BEFORE_NOT_SENT = 3;
  const TYPING_TIMEOUT_MS = 45000;
  const NEAR_BOTTOM_PX = 160;
  const STORE_DRAFT = "webchat.draft";
  const STORE_OUTBOX = "webchat.outbox";
  const STORE_RELOAD = "webchat.reload";
  const STORE_SESSION_RELOAD = "webchat.session-reload";

  const ui = {
    list: byId("messages"),
    scroller: byId("scroller"),
    typing: byId("typing"),
    connection: byId("connection"),
    form: byId("composer"),
    input: byId("composer-input"),
    send: byId("composer-send"),
    error: byId("composer-error"),
  };

  const state = {
    lastId: 0, // highest server id received from the poll
    rendered: new Map(), // server id -> <li>
    outbox: [], // messages not yet acknowledged, in sending order
    pumping: false,
    reloadWanted: false,
    unloading: false,
    lastDayKey: null,
    typingTimer: 0,
    lastOutId: 0, // highest id of a bot message shown
    polling: false,
    initialRender: true,
    unrenderableLang: null,
    wakers: new Set(),
  };

  // ---------------------------------------------------------------- small helpers

  const store = {
    get(key) {
      try {
        return window.sessionStorage.getItem(key);
      } catch (_error) {
        return null;
      }
    },
    set(key, value) {
      try {
        if (value === null || value === "") window.sessionStorage.removeItem(key);
        else window.sessionStorage.setItem(key, value);
      } catch (_error) {
        // Private browsing or a full quota: the in-memory state still works.
      }
    },
  };

  function uuid4() {
    const c = window.crypto;
    // randomUUID only exists in secure contexts; a plain-http LAN address falls back.
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    const bytes = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
    else for (let i = 0; i < 16; i += 1) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function h(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function hiddenText(text) {
    return h("span", "visually-hidden", text);
  }

  function backoff(failures) {
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.max(0, failures - 1));
    return base * (0.8 + Math.random() * 0.4);
  }

  // A sleep that a tap on "retry", the browser going online or the tab becoming visible ends early.
  function pause(ms) {
    return new Promise((resolve) => {
      const done = () => {
        window.clearTimeout(timer);
        state.wakers.delete(done);
        resolve();
      };
      const timer = window.setTimeout(done, ms);
      state.wakers.add(done);
    });
  }

  function wakeAll() {
    Array.from(state.wakers).forEach((wake) => wake());
  }

  function timeoutSignal(ms) {
    if (typeof AbortSignal !== "undefined" && typeof AbortSignal.timeout === "function") {
      return AbortSignal.timeout(ms);
    }
    const controller = new AbortController();
    window.setTimeout(() => controller.abort(), ms);
    return controller.signal;
  }

  function formatter(options) {
    try {
      return new Intl.DateTimeFormat(PAGE_LANG, options);
    } catch (_error) {
      return new Intl.DateTimeFormat(undefined, options);
    }
  }

  const timeFormat = formatter({ hour: "2-digit", minute: "2-digit" });
  const dayFormat = formatter({ weekday: "long", day: "numeric", month: "long", year: "numeric" });

  function parseDate(value) {
    const date = value ? new Date(value) : new Date();
    return Number.isNaN(date.getTime()) ? new Date() : date;
  }

  function dayKey(date) {
    return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
  }

  function normalize(text) {
    return String(text || "")
      .replace(/\s+/g, " ")
      .trim()
      .toLocaleLowerCase();
  }

  // ---------------------------------------------------------------- text with safe links

  // Bidi isolates (U+2066–U+2069) wrap links in right-to-left text: never part of a URL.
  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`«»“”‘’\u2066-\u2069]+/gi;
  const TRAILING = /[.,;:!?…'"»”’*_]$/;

  function trimUrl(candidate) {
    let url = candidate;
    for (;;) {
      if (TRAILING.test(url)) {
        url = url.slice(0, -1);
      } else if (url.endsWith(")") && (url.match(/\(/g) || []).length < (url.match(/\)/g) || []).length) {
        url = url.slice(0, -1);
      } else {
        return url;
      }
    }
  }

  function safeHref(text) {
    try {
      const url = new URL(text);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_error) {
      return null;
    }
  }

  // Newlines are kept by `white-space: pre-wrap`; URLs become links; nothing is parsed as HTML.
  function appendRichText(parent, text) {
    const source = String(text || "");
    let cursor = 0;
    for (const match of source.matchAll(URL_PATTERN)) {
      const url = trimUrl(match[0]);
      const href = safeHref(url);
      if (!href) continue;
      if (match.index > cursor) parent.append(source.slice(cursor, match.index));
      const link = h("a", "msg__link", url);
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer nofollow";
      link.dir = "ltr";
      if (t.opens_new_tab) link.append(hiddenText(` ${t.opens_new_tab}`));
      parent.append(link);
      cursor = match.index + url.length;
    }
    if (cursor < source.length) parent.append(source.slice(cursor));
  }

  // ---------------------------------------------------------------- rendering messages

  function isNearBottom() {
    const s = ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
  }

  // Server messages go before the family's still-unacknowledged messages, which stay last.
  function insertServerNode(node) {
    const firstPending = state.outbox.find((item) => item.el && item.el.isConnected && !item.ackedId);
    if (firstPending) ui.list.insertBefore(node, firstPending.el);
    else ui.list.append(node);
  }

  // An acknowledged message takes its place in the server's order: a bot question that was
  // written before the family's message arrived must stay above it.
  function placeById(li, id) {
    const later = Array.from(ui.list.querySelectorAll("li.msg[data-id]")).find(
      (node) => node !== li && Number(node.dataset.id) > id,
    );
    if (later) ui.list.insertBefore(li, later);
    else insertServerNode(li);
  }

  function daySeparator(date) {
    const key = dayKey(date);
    if (key === state.lastDayKey) return null;
    state.lastDayKey = key;
    const li = h("li", "day");
    const time = h("time", "day__label", dayFormat.format(date));
    time.dateTime = date.toISOString().slice(0, 10);
    li.append(time);
    return li;
  }

  function messageNode(direction, text, date) {
    const li = h("li", `msg msg--${direction === "in" ? "in" : "out"}`);
    li.append(hiddenText(direction === "in" ? t.you : t.team));
    const bubble = h("div", "msg__bubble");
    const body = h("p", "msg__text");
    // The family may write in any script; the bot writes in the page's own direction.
    if (direction === "in") body.dir = "auto";
    appendRichText(body, text);
    bubble.append(body);
    li.append(bubble);
    const meta = h("div", "msg__meta");
    if (date) meta.append(timeNode(date));
    li.append(meta);
    return li;
  }

  function timeNode(date) {
    const time = h("time", "msg__time", timeFormat.format(date));
    time.dateTime = date.toISOString();
    return time;
  }

  function renderServerMessage(message) {
    const date = parseDate(message.created_at);
    const li = messageNode(message.direction, message.text, date);
    li.dataset.id = String(message.id);
    if (message.direction !== "in" && Array.isArray(message.options) && message.options.length) {
      li.append(optionsNode(message.options, Boolean(message.multiple)));
    }
    if (message.direction !== "in" && message.document) {
      const href = safeHref(message.document.url);
      if (href) {
        const file = h("a", "msg__document", `\u{1F4C4} ${message.document.filename || "PDF"}`);
        file.href = href;
        file.download = message.document.filename || "";
        file.dir = "ltr";
        li.append(file);
      }
    }
    // By id, not by arrival: the family's own message may already be shown (acknowledged) with
    // a higher id than a bot message the server delivers only now.
    placeById(li, message.id);
    const separator = daySeparator(date);
    if (separator) ui.list.insertBefore(separator, li);
    state.rendered.set(message.id, li);
    return li;
  }

  // The poll may return the family's own message before the POST that created it is answered.
  function adoptPending(message) {
    if (message.direction !== "in") return false;
    const item = state.outbox.find(
      (candidate) =>
        !candidate.ackedId &&
        candidate.el &&
        ((message.client_id && message.client_id === candidate.body.client_id) ||
          normalize(message.text) === normalize(candidate.display)),
    );
    if (!item) return false;
    item.ackedId = message.id;
    markSent(item, parseDate(message.created_at));
    if (message.text && normalize(message.text) !== normalize(item.display)) {
      const body = item.el.querySelector(".msg__text");
      body.textContent = "";
      appendRichText(body, message.text);
    }
    item.el.dataset.id = String(message.id);
    placeById(item.el, message.id);
    state.rendered.set(message.id, item.el);
    return true;
  }

  // Our optimistic bubble shows what was tapped; the server's wording is the one history keeps.
  function syncOwnText(li, message) {
    if (!li || message.direction !== "in" || li.dataset.synced === "true") return;
    li.dataset.synced = "true";
    const body = li.querySelector(".msg__text");
    if (typeof message.text === "string" && message.text && body.textContent !== message.text) {
      body.textContent = "";
      appendRichText(body, message.text);
    }
    const time = li.querySelector(".msg__time");
    if (time && message.created_at) time.replaceWith(timeNode(parseDate(message.created_at)));
  }

  function renderBatch(messages) {
    const wasNearBottom = isNearBottom() || state.lastId === 0;
    const focusLost = focusIsLost();
    let newOut = false;
    let newestOptions = null;
    const sorted = messages
      .filter((m) => m && Number.isFinite(Number(m.id)))
      .sort((a, b) => Number(a.id) - Number(b.id));
    for (const message of sorted) {
      const id = Number(message.id);
      message.id = id;
      state.lastId = Math.max(state.lastId, id);
      if (state.rendered.has(id)) {
        syncOwnText(state.rendered.get(id), message);
        continue;
      }
      if (adoptPending(message)) continue;
      const li = renderServerMessage(message);
      if (message.direction !== "in") {
        state.lastOutId = Math.max(state.lastOutId, id);
        newOut = true;
        newestOptions = li.querySelector(".options");
      }
    }
    if (newOut) hideTyping();
    refreshOptions();
    groupTimes();
    if (wasNearBottom || newOut) scrollToBottom();
    if (newOut && focusLost && !state.initialRender) {
      const target = newestOptions && newestOptions.querySelector("button:not([disabled])");
      (target || ui.input).focus({ preventScroll: true });
    }
  }

  // One time stamp per run of messages from the same side within the same minute.
  function groupTimes() {
    const items = Array.from(ui.list.querySelectorAll("li.msg"));
    items.forEach((li, index) => {
      const next = items[index + 1];
      const time = li.querySelector(".msg__time");
      const nextTime = next && next.querySelector(".msg__time");
      const grouped =
        Boolean(time && nextTime) &&
        next.classList.contains("msg--in") === li.classList.contains("msg--in") &&
        nextTime.textContent === time.textContent;
      li.classList.toggle("msg--grouped", grouped);
    });
  }

  function focusIsLost() {
    const active = document.activeElement;
    return !active || active === document.body || active.disabled || ui.list.contains(active);
  }

  // ---------------------------------------------------------------- choices

  function optionsNode(options, multiple) {
    const group = h("div", `options${multiple ? " options--multiple" : ""}`);
    group.setAttribute("role", "group");
    group.dataset.multiple = multiple ? "true" : "false";
    if (multiple) {
      const hint = h("p", "options__hint", t.choose_many);
      hint.id = `hint-${uuid4()}`;
      group.setAttribute("aria-describedby", hint.id);
      group.append(hint);
    }
    const list = h("div", "options__list");
    for (const option of options) {
      if (!option || option.key === undefined) continue;
      const button = h("button", "option");
      button.type = "button";
      button.dataset.key = String(option.key);
      button.dataset.label = String(option.label ?? option.key);
      button.append(h("span", "option__label", button.dataset.label));
      if (multiple) {
        button.setAttribute("aria-pressed", "false");
        button.addEventListener("click", () => toggleOption(group, button));
      } else {
        button.addEventListener("click", () => chooseOne(group, button));
      }
      list.append(button);
    }
    group.append(list);
    if (multiple) {
      const submit = h("button", "option-send", t.send_choice);
      submit.type = "button";
      submit.disabled = true;
      submit.addEventListener("click", () => chooseMany(group));
      group.append(submit);
    }
    return group;
  }

  function toggleOption(group, button) {
    if (button.disabled) return;
    const pressed = button.getAttribute("aria-pressed") === "true";
    button.setAttribute("aria-pressed", pressed ? "false" : "true");
    const submit = group.querySelector(".option-send");
    if (submit) submit.disabled = !group.querySelector('.option[aria-pressed="true"]');
  }

  // A past answer shows as a pressed (and disabled) toggle: its accessible name stays the label.
  function markChosen(group, buttons) {
    group.querySelectorAll(".option").forEach((button) => {
      const chosen = buttons.includes(button);
      button.classList.toggle("option--chosen", chosen);
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
    });
  }

  function chooseOne(group, button) {
    if (button.disabled || group.classList.contains("options--past")) return;
    group.dataset.chosen = "local";
    markChosen(group, [button]);
    enqueue({ client_id: uuid4(), choice: button.dataset.key }, button.dataset.label, "choice");
  }

  function chooseMany(group) {
    const buttons = Array.from(group.querySelectorAll('.option[aria-pressed="true"]'));
    if (!buttons.length || group.classList.contains("options--past")) return;
    group.dataset.chosen = "local";
    markChosen(group, buttons);
    const labels = buttons.map((b) => b.dataset.label);
    let display = labels.join(", ");
    try {
      display = new Intl.ListFormat(PAGE_LANG, { style: "long", type: "conjunction" }).format(labels);
    } catch (_error) {
      // Older browsers: the comma-joined labels are fine.
    }
    enqueue({ client_id: uuid4(), choices: buttons.map((b) => b.dataset.key) }, display, "choice");
  }

  // Guess, for display only, which option an older answer picked.
  function chosenFromAnswer(group, answerText) {
    const answer = normalize(answerText);
    if (!answer) return [];
    const buttons = Array.from(group.querySelectorAll(".option"));
    const exact = buttons.filter(
      (b, index) =>
        normalize(b.dataset.label) === answer ||
        normalize(b.dataset.key) === answer ||
        answer === String(index + 1),
    );
    if (exact.length || group.dataset.multiple !== "true") return exact.slice(0, 1);
    const parts = answer.split(/\s*(?:[,،;、\n]|\s(?:and|et|en|и|ve|و)\s)\s*/).map(normalize);
    return buttons.filter(
      (b) => parts.includes(normalize(b.dataset.label)) || parts.includes(normalize(b.dataset.key)),
    );
  }

  // Only the last bot message's choices are live, and only until the family has answered it.
  function refreshOptions() {
    const items = Array.from(ui.list.querySelectorAll("li.msg"));
    let lastOut = -1;
    items.forEach((li, index) => {
      if (li.classList.contains("msg--out")) lastOut = index;
    });
    const answered = items.slice(lastOut + 1).some((li) => li.classList.contains("msg--in"));
    items.forEach((li, index) => {
      const group = li.querySelector(".options");
      if (!group) return;
      const live = index === lastOut && !answered;
      setGroupLive(group, live);
      if (!live && group.dataset.chosen !== "local" && group.dataset.chosen !== "guessed") {
        const answer = items.slice(index + 1).find((n) => n.classList.contains("msg--in"));
        if (answer) {
          group.dataset.chosen = "guessed";
          markChosen(group, chosenFromAnswer(group, answer.querySelector(".msg__text").textContent));
        }
      }
    });
  }

  function setGroupLive(group, live) {
    group.classList.toggle("options--past", !live);
    const hint = group.querySelector(".options__hint");
    if (hint) hint.hidden = !live;
    group.querySelectorAll(".option").forEach((button) => {
      button.disabled = !live;
    });
    const submit = group.querySelector(".option-send");
    if (submit) {
      submit.hidden = !live;
      submit.disabled = !live || !group.querySelector('.option[aria-pressed="true"]');
    }
    if (live) {
      delete group.dataset.chosen;
      group.querySelectorAll(".option").forEach((button) => {
        button.classList.remove("option--chosen");
        if (group.dataset.multiple !== "true") button.removeAttribute("aria-pressed");
      });
    }
  }

  // ---------------------------------------------------------------- sending (the outbox)

  function saveOutbox() {
    const pending = state.outbox
      .filter((item) => !item.ackedId)
      .map(({ body, display, kind }) => ({ body, display, kind }));
    store.set(STORE_OUTBOX, pending.length ? JSON.stringify(pending) : null);
  }

  function pendingNode(item) {
    const li = messageNode("in", item.display, null);
    li.classList.add("msg--pending");
    li.dataset.clientId = item.body.client_id;
    const status = h("span", "msg__status", t.sending);
    li.querySelector(".msg__meta").append(status);
    return li;
  }

  function setPendingStatus(item, failed) {
    const wasNearBottom = isNearBottom();
    const meta = item.el.querySelector(".msg__meta");
    const old = meta.querySelector(".msg__status");
    if (old) old.remove();
    item.el.classList.toggle("msg--failed", failed);
    if (failed) {
      const retry = h("button", "msg__status msg__retry", t.not_sent);
      retry.type = "button";
      retry.addEventListener("click", () => {
        setPendingStatus(item, false);
        wakeAll();
      });
      meta.append(retry);
    } else {
      meta.append(h("span", "msg__status", t.sending));
    }
    if (wasNearBottom) scrollToBottom();
  }

  function markSent(item, date) {
    item.el.classList.remove("msg--pending", "msg--failed");
    const meta = item.el.querySelector(".msg__meta");
    meta.textContent = "";
    meta.append(timeNode(date || new Date()));
  }

  function enqueue(body, display, kind) {
    hideError();
    const item = { body, display, kind, failures: 0, ackedId: null, el: null };
    item.el = pendingNode(item);
    ui.list.append(item.el);
    state.outbox.push(item);
    saveOutbox();
    refreshOptions();
    scrollToBottom();
    pump();
  }

  async function postOnce(item) {
    let response;
    try {
      response = await fetch(`${API}/messages`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(item.body),
        signal: timeoutSignal(POST_TIMEOUT_MS),
      });
    } catch (_error) {
      return { outcome: "retry" };
    }
    let data = {};
    try {
      data = await response.json();
    } catch (_error) {
      data = {};
    }
    if (response.ok) return { outcome: "ok", id: Number(data && data.id) };
    // 401/403: the session cookie is gone; the server explains, in the family's language.
    if ([400, 401, 403, 408, 413, 415, 422, 429].includes(response.status)) {
      const fallback = response.status === 413 ? t.too_long : t.not_accepted;
      return { outcome: "rejected", error: (data && data.error) || fallback };
    }
    return { outcome: "retry" };
  }

  async function pump() {
    if (state.pumping) return;
    state.pumping = true;
    try {
      while (state.outbox.length) {
        const item = state.outbox[0];
        const result = await postOnce(item);
        if (result.outcome === "retry") {
          item.failures += 1;
          if (item.failures >= FAILURES_BEFORE_NOT_SENT) setPendingStatus(item, true);
          showConnectionLost();
          await pause(backoff(item.failures));
          continue;
        }
        state.outbox.shift();
        if (result.outcome === "ok") acknowledge(item, result.id);
        else reject(item, result.error);
        saveOutbox();
      }
    } finally {
      state.pumping = false;
      maybeReload();
    }
  }

  function acknowledge(item, id) {
    hideConnectionLost();
    const known = Number.isFinite(id) ? state.rendered.get(id) : undefined;
    if (known && known !== item.el) {
      // The poll already showed this very message: drop the optimistic copy.
      item.el.remove();
    } else if (!item.ackedId) {
      item.ackedId = Number.isFinite(id) ? id : -1;
      if (Number.isFinite(id)) {
        item.el.dataset.id = String(id);
        placeById(item.el, id);
        state.rendered.set(id, item.el);
      }
      markSent(item, new Date());
    }
    refreshOptions();
    groupTimes();
    // No typing dots if the answer has already arrived through the poll.
    if (!(Number.isFinite(id) && state.lastOutId > id)) showTyping();
  }

  function reject(item, message) {
    item.el.remove();
    refreshOptions();
    if (item.kind === "text") {
      const current = ui.input.value;
      ui.input.value = current.trim() ? `${item.display}\n${current}` : item.display;
      saveDraft();
      autosize();
      ui.input.focus({ preventScroll: true });
    }
    showError(message);
  }

  function restoreOutbox() {
    let saved = [];
    try {
      saved = JSON.parse(store.get(STORE_OUTBOX) || "[]");
    } catch (_error) {
      saved = [];
    }
    if (!Array.isArray(saved)) return;
    for (const entry of saved) {
      if (!entry || !entry.body || !entry.body.client_id) continue;
      const item = {
        body: entry.body,
        display: String(entry.display || ""),
        kind: entry.kind,
        failures: 0,
        ackedId: null,
        el: null,
      };
      item.el = pendingNode(item);
      ui.list.append(item.el);
      state.outbox.push(item);
    }
    if (state.outbox.length) {
      refreshOptions();
      scrollToBottom();
      pump();
    }
  }

  // ---------------------------------------------------------------- status indicators

  function showTyping() {
    ui.typing.hidden = false;
    window.clearTimeout(state.typingTimer);
    state.typingTimer = window.setTimeout(hideTyping, TYPING_TIMEOUT_MS);
    if (isNearBottom()) scrollToBottom();
  }

  function hideTyping() {
    window.clearTimeout(state.typingTimer);
    ui.typing.hidden = true;
  }

  function showConnectionLost() {
    if (state.unloading) return;
    ui.connection.textContent = t.connection_lost;
    ui.connection.hidden = false;
  }

  function showNotice(text) {
    ui.connection.textContent = text;
    ui.connection.hidden = false;
  }

  function hideConnectionLost() {
    ui.connection.hidden = true;
  }

  function showError(message) {
    ui.error.textContent = message;
    ui.error.hidden = false;
  }

  function hideError() {
    ui.error.hidden = true;
    ui.error.textContent = "";
  }

  // ---------------------------------------------------------------- receiving (the long poll)

  async function pollOnce() {
    const url = `${API}/messages?after=${encodeURIComponent(state.lastId)}&wait=${POLL_WAIT_S}`;
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
      signal: timeoutSignal(POLL_TIMEOUT_MS),
    });
    if (!response.ok) {
      const error = new Error(`poll answered ${response.status}`);
      error.status = response.status;
      if (response.status === 429) {
        // Too many new conversations from this address: the server says so in the family's
        // language and when to come back.
        error.retryAfter = Number(response.headers.get("Retry-After")) || 60;
        try {
          error.text = (await response.json()).error;
        } catch (_error) {
          error.text = null;
        }
      }
      throw error;
    }
    return response.json();
  }

  async function pollForever() {
    if (state.polling) return;
    state.polling = true;
    let failures = 0;
    for (;;) {
      try {
        const data = await pollOnce();
        failures = 0;
        if (!state.outbox.some((item) => item.failures > 0)) hideConnectionLost();
        renderBatch(Array.isArray(data.messages) ? data.messages : []);
        if (state.initialRender) {
          state.initialRender = false;
          restoreOutbox();
        }
        followLanguage(data.lang, data.dir);
      } catch (error) {
        if (error && (error.status === 401 || error.status === 403)) sessionExpired();
        if (state.unloading) {
          state.polling = false;
          return;
        }
        failures += 1;
        if (error && error.status === 429) {
          showNotice(error.text || t.connection_lost);
          await pause(Math.min(error.retryAfter, 600) * 1000);
          continue;
        }
        showConnectionLost();
        await pause(backoff(failures));
      }
    }
  }

  // The family switched language: the server renders the page (and its strings) anew.
  function followLanguage(lang, dir) {
    if (!lang && !dir) return;
    const newLang = lang || PAGE_LANG;
    const newDir = dir === "rtl" || dir === "ltr" ? dir : PAGE_DIR;
    if (newLang === PAGE_LANG && newDir === PAGE_DIR) return;
    root.lang = newLang;
    root.dir = newDir;
    if (newLang === state.unrenderableLang) return;
    state.reloadWanted = newLang;
    maybeReload();
  }

  // Without its cookie the page cannot reach the conversation; loading it again sets a new one.
  function sessionExpired() {
    const last = Number(store.get(STORE_SESSION_RELOAD) || 0);
    if (Date.now() - last < 60000) return;
    store.set(STORE_SESSION_RELOAD, String(Date.now()));
    saveDraft();
    state.unloading = true;
    window.location.reload();
  }

  function maybeReload() {
    if (!state.reloadWanted || state.pumping || state.outbox.some((item) => !item.ackedId)) return;
    store.set(STORE_RELOAD, state.reloadWanted);
    saveDraft();
    state.unloading = true;
    window.location.reload();
  }

  // ---------------------------------------------------------------- the composer

  function saveDraft() {
    store.set(STORE_DRAFT, ui.input.value);
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight + 2, 160)}px`;
  }

  function submitText() {
    const text = ui.input.value.trim();
    if (!text) {
      ui.input.focus();
      return;
    }
    ui.input.value = "";
    autosize();
    enqueue({ client_id: uuid4(), text }, text, "text");
    saveDraft();
    ui.input.focus({ preventScroll: true });
  }

  function wireComposer() {
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitText();
    });
    ui.input.addEventListener("keydown", (event) => {
      // keyCode 229: an input method (Arabic, Cyrillic keyboards) is still composing.
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
      event.preventDefault();
      submitText();
    });
    ui.input.addEventListener("input", () => {
      saveDraft();
      autosize();
      if (ui.input.value.trim()) hideError();
    });
    const draft = store.get(STORE_DRAFT);
    if (draft && !ui.input.value) ui.input.value = draft;
    autosize();
  }

  function wireLifecycle() {
    window.addEventListener("online", () => {
      hideConnectionLost();
      wakeAll();
    });
    window.addEventListener("offline", showConnectionLost);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") wakeAll();
    });
    window.addEventListener("pagehide", () => {
      state.unloading = true;
      saveDraft();
      saveOutbox();
    });
    window.addEventListener("pageshow", () => {
      // Coming back from the back/forward cache: the poll loop may have stopped.
      state.unloading = false;
      pollForever();
      wakeAll();
    });
  }

  // If the last reload was for a language the page still is not in, the server cannot render
  // that language: keep the page as it is instead of reloading in a loop.
  function checkLanguageReload() {
    const wanted = store.get(STORE_RELOAD);
    store.set(STORE_RELOAD, null);
    if (wanted && wanted !== PAGE_LANG) state.unrenderableLang = wanted;
  }

  // "Forget this device": the server clears the cookie; this tab's drafts and unsent
  // messages must not follow into the next conversation.
  function wireForget() {
    const form = byId("forget");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      if (t.forget_confirm && !window.confirm(t.forget_confirm)) {
        event.preventDefault();
        return;
      }
      state.unloading = true;
      state.outbox = [];
      [STORE_DRAFT, STORE_OUTBOX, STORE_RELOAD, STORE_SESSION_RELOAD].forEach((key) => store.set(key, null));
      ui.input.value = "";
    });
  }

  function start() {
    if (!ui.list || !ui.form || !ui.input) return;
    wireForget();
    checkLanguageReload();
    root.classList.add("js");
    wireComposer();
    wireLifecycle();
    pollForever();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
