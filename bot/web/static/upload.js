/* The family's upload page: many files, whole folders (CD/DVD exports) and ZIPs, sent with the
   tus 1.0.0 core protocol in pieces so that a cut connection only costs the current piece.

   - Small files (those that would go in one piece anyway: most DICOM instances, PDFs,
     photos) go in batches, many to one request (POST .../batch, per file a JSON "meta" part
     and the "file" part), grouped by count and bytes. The server answers per file (kept, or
     refused with its reason) only once the whole batch is on disk; a batch cut off is kept
     nowhere and is sent again whole.
   - Each larger file: POST (creation) -> PATCH pieces from the server's offset -> done. On a
     network error, wait, ask HEAD for the committed offset and continue from there.
   - The upload URL is remembered (localStorage, by file name, size and date) so choosing the
     same file again after a reload continues instead of restarting.
   - Visible strings come from the server, translated (the JSON block "i18n"). */
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("upload-config").textContent);
  const t = JSON.parse(document.getElementById("i18n").textContent);
  const BASE = config.base;
  const CHUNK = Number(config.chunk) || 8 * 1024 * 1024;
  const MAX_FILE = Number(config.max_file) || Infinity;
  const BATCH = config.batch || null;
  const PARALLEL = 3;
  const MAX_FAILURES = 40;
  const STALL_MS = 90000;
  const TUS = { "Tus-Resumable": "1.0.0" };
  const STORE_PREFIX = "upload:";
  // Hospital discs carry a viewer program; none of it is medical.
  const NOT_MEDICAL = /(^|\/)(autorun\.inf|thumbs\.db|desktop\.ini|\.ds_store)$|(^|\/)(__macosx|\.[^/]*)\/|\.(exe|dll|msi|cab|bat|cmd|com|sys|ocx|drv|inf|ini|reg|lnk|jar|class|js|css|html?|htm|xsl|xml|ico|bmp|gif|cur|ttf|otf|fon|chm|hlp|cfg|log|manifest|dylib|so|plist|sh|app)$/i;

  const numberFormat = new Intl.NumberFormat(config.lang || undefined, { maximumFractionDigits: 1 });
  const ui = {
    item: document.getElementById("item"),
    filesInput: document.getElementById("files-input"),
    folderInput: document.getElementById("folder-input"),
    progress: document.getElementById("progress"),
    overall: document.getElementById("overall"),
    overallText: document.getElementById("overall-text"),
    skipped: document.getElementById("skipped"),
    allDone: document.getElementById("all-done"),
    files: document.getElementById("files"),
    checklist: document.getElementById("checklist"),
    complete: document.getElementById("complete"),
    notes: document.getElementById("notes"),
    documents: document.getElementById("documents"),
    nothingYet: document.getElementById("nothing-yet"),
  };
  const state = {
    entries: [],
    active: 0,
    skipped: 0,
    finishedSinceReport: 0,
    statusTimer: 0,
    items: [],
  };

  // ---------------------------------------------------------------- helpers

  // The server sends every form of a plural message keyed by CLDR category; the browser's
  // own CLDR rules pick the one for the count.
  const pluralRules = new Intl.PluralRules(config.lang || undefined);
  function plural(forms, count) {
    return forms[pluralRules.select(count)] || forms.other;
  }

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, (match, key) => (key in values ? values[key] : match));
  }

  function sizeText(bytes) {
    if (bytes >= 1 << 30) return fill(t.gb, { amount: numberFormat.format(bytes / (1 << 30)) });
    if (bytes >= 1 << 20) return fill(t.mb, { amount: numberFormat.format(bytes / (1 << 20)) });
    return fill(t.kb, { amount: numberFormat.format(Math.max(1, Math.round(bytes / 1024))) });
  }

  function h(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function base64(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    bytes.forEach((b) => {
      binary += String.fromCharCode(b);
    });
    return btoa(binary);
  }

  function pause(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  function backoff(failures) {
    const base = Math.min(30000, 500 * 2 ** Math.min(failures, 6));
    return base / 2 + Math.random() * (base / 2);
  }

  function newBatchId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const storage = {
    get(key) {
      try {
        return window.localStorage.getItem(STORE_PREFIX + key);
      } catch (_error) {
        return null;
      }
    },
    set(key, value) {
      try {
        if (value === null) window.localStorage.removeItem(STORE_PREFIX + key);
        else window.localStorage.setItem(STORE_PREFIX + key, value);
      } catch (_error) {
        // Private mode or full storage: uploads still resume within this page.
      }
    },
  };

  async function errorText(response, fallback) {
    try {
      const data = await response.json();
      if (data && data.error) return data.error;
    } catch (_error) {
      // Not JSON: keep the generic text.
    }
    return fallback;
  }

  class Fatal extends Error {}

  // ---------------------------------------------------------------- the tus client

  async function create(entry) {
    const metadata = [
      ["filename", entry.file.name],
      ["relativePath", entry.path],
      ["filetype", entry.file.type || ""],
      ["item", entry.item || ""],
      ["batch", entry.batch],
    ]
      .filter(([, value]) => value)
      .map(([key, value]) => `${key} ${base64(value)}`)
      .join(",");
    const response = await fetch(`${BASE}/files`, {
      method: "POST",
      headers: { ...TUS, "Upload-Length": String(entry.file.size), "Upload-Metadata": metadata },
      cache: "no-store",
    });
    if (response.status === 201) return new URL(response.headers.get("Location"), window.location.href).href;
    // 507: the server is short of disk space; its message says to come back later.
    if ((response.status >= 400 && response.status < 500 && response.status !== 429)
        || response.status === 507) {
      throw new Fatal(await errorText(response, t.error));
    }
    throw new Error(`create answered ${response.status}`);
  }

  async function headOffset(url) {
    const response = await fetch(url, { method: "HEAD", headers: TUS, cache: "no-store" });
    if (response.status === 200) return Number(response.headers.get("Upload-Offset"));
    if (response.status === 404 || response.status === 410) return null;
    throw new Error(`head answered ${response.status}`);
  }

  // Resolves with the committed offset, null when the upload is gone (404/410); retries a
  // few times on network errors, which must not make the page start the file again.
  async function committedOffset(url) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await headOffset(url);
      } catch (error) {
        if (attempt >= 6) throw error;
        await pause(backoff(attempt));
      }
    }
  }

  // One request with an upload progress callback and a stall watchdog (XHR: fetch reports no
  // upload progress).
  function sendWithProgress(method, url, headers, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      let watchdog = 0;
      // A connection that stalls without an error (a phone changing networks) is given up
      // after a while; the committed offset is then asked for and the piece sent again.
      const arm = () => {
        window.clearTimeout(watchdog);
        watchdog = window.setTimeout(() => xhr.abort(), STALL_MS);
      };
      const settle = (fn, value) => {
        window.clearTimeout(watchdog);
        fn(value);
      };
      xhr.open(method, url);
      Object.entries(headers).forEach(([name, value]) => xhr.setRequestHeader(name, value));
      xhr.upload.onprogress = (event) => {
        arm();
        onProgress(event.loaded, event.total);
      };
      // Once the body is sent the server may be inspecting the files: no watchdog then.
      xhr.upload.onload = () => window.clearTimeout(watchdog);
      xhr.onload = () => settle(resolve, xhr);
      xhr.onerror = () => settle(reject, new Error("network"));
      xhr.onabort = () => settle(reject, new Error("stalled"));
      arm();
      xhr.send(body);
    });
  }

  function patch(url, offset, blob, onProgress) {
    return sendWithProgress("PATCH", url, {
      ...TUS,
      "Upload-Offset": String(offset),
      "Content-Type": "application/offset+octet-stream",
    }, blob, onProgress);
  }

  function responseError(xhr) {
    try {
      return JSON.parse(xhr.responseText).error || t.error;
    } catch (_error) {
      return t.error;
    }
  }

  // ---------------------------------------------------------------- batches of small files

  function batchable(entry) {
    return Boolean(BATCH) && entry.file.size > 0
      && entry.file.size <= Math.min(Number(BATCH.file_bytes) || 0, CHUNK);
  }

  function batchForm(group) {
    const form = new FormData();
    for (const entry of group) {
      form.append("meta", JSON.stringify({
        size: entry.file.size,
        filename: entry.file.name,
        relativePath: entry.path,
        filetype: entry.file.type || "",
        item: entry.item || "",
        batch: entry.batch,
      }));
      form.append("file", entry.file, "file");
    }
    return form;
  }

  function batchProgress(group, loaded, total) {
    // The body is the files plus a little multipart framing: share what went out in order.
    const bytes = group.reduce((sum, entry) => sum + entry.file.size, 0);
    let left = total ? (loaded / total) * bytes : 0;
    for (const entry of group) {
      const sent = Math.min(entry.file.size, left);
      left -= sent;
      progress(entry, sent);
      if (sent >= entry.file.size) setStatus(entry, t.checking);
    }
  }

  // Resolves with the server's answer per file; a batch that fails as a whole (network,
  // timeout) is sent again whole: the server kept nothing of it.
  async function sendBatch(group) {
    let failures = 0;
    for (;;) {
      try {
        group.forEach((entry) => setStatus(entry, t.sending));
        const xhr = await sendWithProgress("POST", `${BASE}/batch`, {}, batchForm(group),
          (loaded, total) => batchProgress(group, loaded, total));
        if (xhr.status === 200) {
          const answer = JSON.parse(xhr.responseText);
          if (answer && Array.isArray(answer.files) && answer.files.length === group.length) {
            return answer.files;
          }
          throw new Error("batch answer does not match");
        }
        if (xhr.status === 507 || (xhr.status >= 400 && xhr.status < 500
                                   && ![400, 408, 423, 429].includes(xhr.status))) {
          throw new Fatal(responseError(xhr));
        }
        throw new Error(`batch answered ${xhr.status}`);
      } catch (error) {
        if (error instanceof Fatal) throw error;
        failures += 1;
        if (failures > MAX_FAILURES) throw new Fatal(t.error);
        group.forEach((entry) => {
          setStatus(entry, t.paused);
          progress(entry, 0);
        });
        await pause(backoff(failures));
      }
    }
  }

  async function runBatch(group) {
    group.forEach((entry) => {
      entry.state = "sending";
    });
    state.active += 1;
    try {
      const answers = await sendBatch(group);
      answers.forEach((answer, index) => {
        if (answer.ok) succeed(group[index]);
        else fail(group[index], answer.error || t.error);
      });
      scheduleStatus();
    } catch (error) {
      const message = error instanceof Fatal ? error.message : t.error;
      group.forEach((entry) => fail(entry, message));
    } finally {
      state.active -= 1;
      updateOverall();
      pump();
    }
  }

  function nextBatch(waiting) {
    const group = [];
    let bytes = 0;
    for (const entry of waiting) {
      if (!batchable(entry)) continue;
      if (group.length >= BATCH.files || (group.length && bytes + entry.file.size > BATCH.bytes)) {
        break;
      }
      group.push(entry);
      bytes += entry.file.size;
    }
    return group;
  }

  function fingerprint(entry) {
    return [BASE, entry.path || entry.file.name, entry.file.size, entry.file.lastModified].join("|");
  }

  async function send(entry) {
    const key = fingerprint(entry);
    let url = storage.get(key);
    let offset = null;
    if (url) {
      offset = await committedOffset(url);
      if (offset === null) url = null;
      else if (offset > 0) setStatus(entry, t.resumed);
    }
    if (!url) {
      url = await create(entry);
      offset = 0;
      storage.set(key, url);
    }
    entry.url = url;
    let failures = 0;
    while (offset < entry.file.size) {
      const end = Math.min(offset + CHUNK, entry.file.size);
      const start = offset;
      try {
        setStatus(entry, t.sending);
        const xhr = await patch(url, start, entry.file.slice(start, end), (loaded) => {
          progress(entry, start + loaded);
          if (start + loaded >= entry.file.size) setStatus(entry, t.checking);
        });
        if (xhr.status === 204) {
          offset = Number(xhr.getResponseHeader("Upload-Offset"));
          failures = 0;
          progress(entry, offset);
          continue;
        }
        if (xhr.status === 409) {
          offset = await committedOffset(url);
          if (offset === null) throw new Fatal(t.error);
          continue;
        }
        const full = xhr.status === 507;  // kept for a later resume, with the server's words
        if (full || (xhr.status >= 400 && xhr.status < 500
                     && ![408, 423, 429].includes(xhr.status))) {
          const message = responseError(xhr);
          if (xhr.status !== 400 && !full) storage.set(key, null);
          if (xhr.status === 400) throw new Error("bad request, retry from HEAD");
          throw new Fatal(message);
        }
        throw new Error(`patch answered ${xhr.status}`);
      } catch (error) {
        if (error instanceof Fatal) throw error;
        failures += 1;
        if (failures > MAX_FAILURES) throw new Fatal(t.error);
        setStatus(entry, t.paused);
        await pause(backoff(failures));
        try {
          const committed = await headOffset(url);
          if (committed === null) throw new Fatal(t.error);
          offset = committed;
          progress(entry, offset);
        } catch (headError) {
          if (headError instanceof Fatal) throw headError;
        }
      }
    }
    storage.set(key, null);
  }

  // ---------------------------------------------------------------- the queue

  function addFiles(fileList, fromFolder) {
    const files = Array.from(fileList || []);
    if (!files.length) return;
    if (!state.entries.some((entry) => entry.state === "waiting" || entry.state === "sending")) {
      state.batch = newBatchId();
    }
    ui.progress.hidden = false;
    ui.allDone.hidden = true;
    for (const file of files) {
      const path = file.webkitRelativePath || "";
      if (fromFolder && NOT_MEDICAL.test(path || file.name)) {
        state.skipped += 1;
        continue;
      }
      const entry = {
        file,
        path,
        item: ui.item ? ui.item.value : "",
        batch: state.batch,
        sent: 0,
        state: "waiting",
        url: null,
        el: null,
      };
      entry.el = fileRow(entry);
      ui.files.append(entry.el);
      state.entries.push(entry);
      if (file.size > MAX_FILE) fail(entry, t.too_large);
      else if (file.size === 0) fail(entry, t.empty);
    }
    if (state.skipped) {
      ui.skipped.textContent = fill(plural(t.skipped, state.skipped), {
        count: numberFormat.format(state.skipped),
      });
      ui.skipped.hidden = false;
    }
    updateOverall();
    pump();
  }

  function fileRow(entry) {
    const li = h("li", "file");
    const name = h("span", "file__name", entry.path || entry.file.name);
    name.dir = "auto";
    const size = h("span", "file__size", sizeText(entry.file.size));
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", entry.file.name);
    const status = h("span", "file__status");
    status.append(h("span", "file__state", t.waiting));
    li.append(name, size, bar, status);
    return li;
  }

  function setStatus(entry, text) {
    const label = entry.el.querySelector(".file__state");
    if (label.textContent !== text) label.textContent = text;
  }

  function progress(entry, sent) {
    entry.sent = Math.min(sent, entry.file.size);
    const bar = entry.el.querySelector("progress");
    bar.value = entry.file.size ? Math.floor((entry.sent / entry.file.size) * 100) : 100;
    updateOverall();
  }

  function fail(entry, message) {
    entry.state = "failed";
    entry.el.classList.add("file--failed");
    setStatus(entry, `${t.failed} \u2014 ${message}`);
    const status = entry.el.querySelector(".file__status");
    if (!status.querySelector("button") && entry.file.size > 0 && entry.file.size <= MAX_FILE) {
      const retry = h("button", "button button--small", t.retry);
      retry.type = "button";
      retry.addEventListener("click", () => {
        retry.remove();
        entry.state = "waiting";
        entry.el.classList.remove("file--failed");
        setStatus(entry, t.waiting);
        pump();
      });
      status.append(retry);
    }
  }

  function succeed(entry) {
    entry.state = "done";
    entry.sent = entry.file.size;
    entry.el.classList.add("file--done");
    entry.el.querySelector("progress").value = 100;
    setStatus(entry, t.received);
    state.finishedSinceReport += 1;
  }

  function updateOverall() {
    const counted = state.entries.filter((entry) => entry.state !== "failed" || entry.sent > 0);
    const total = counted.reduce((sum, entry) => sum + entry.file.size, 0);
    const sent = counted.reduce((sum, entry) => sum + entry.sent, 0);
    const done = state.entries.filter((entry) => entry.state === "done").length;
    ui.overall.value = total ? Math.floor((sent / total) * 100) : 0;
    ui.overallText.textContent = fill(plural(t.overall, state.entries.length), {
      done: numberFormat.format(done),
      count: numberFormat.format(state.entries.length),
    });
  }

  function pump() {
    while (state.active < PARALLEL) {
      const waiting = state.entries.filter((entry) => entry.state === "waiting");
      if (!waiting.length) break;
      if (batchable(waiting[0])) runBatch(nextBatch(waiting));
      else run(waiting[0]);
    }
    if (!state.active && !state.entries.some((entry) => entry.state === "waiting")) batchFinished();
  }

  async function run(entry) {
    entry.state = "sending";
    state.active += 1;
    try {
      await send(entry);
      succeed(entry);
      scheduleStatus();
    } catch (error) {
      fail(entry, error instanceof Fatal ? error.message : t.error);
    } finally {
      state.active -= 1;
      updateOverall();
      pump();
    }
  }

  async function batchFinished() {
    if (!state.finishedSinceReport) return;
    state.finishedSinceReport = 0;
    try {
      await fetch(`${BASE}/done`, { method: "POST", cache: "no-store" });
    } catch (_error) {
      // The next batch (or leaving the page) reports these files.
      state.finishedSinceReport += 1;
    }
    if (state.entries.every((entry) => entry.state === "done")) {
      ui.allDone.textContent = t.all_done;
      ui.allDone.hidden = false;
    }
    refreshStatus();
  }

  // ---------------------------------------------------------------- status (checklist)

  function scheduleStatus() {
    window.clearTimeout(state.statusTimer);
    state.statusTimer = window.setTimeout(refreshStatus, 400);
  }

  async function refreshStatus() {
    let data;
    try {
      const response = await fetch(`${BASE}/status`, { cache: "no-store", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      data = await response.json();
    } catch (_error) {
      return;
    }
    state.items = data.items || [];
    renderChecklist(data.checklist || []);
    ui.complete.hidden = !data.complete;
    renderNotes(data.notes || []);
    renderDocuments(data.documents || []);
    ui.nothingYet.hidden = Boolean((data.notes || []).length || (data.documents || []).length);
  }

  function renderChecklist(items) {
    for (const item of items) {
      const li = ui.checklist.querySelector(`[data-kind="${CSS.escape(item.kind)}"]`);
      if (!li) continue;
      li.classList.toggle("is-done", Boolean(item.done));
      li.querySelector(".checklist__mark").textContent = item.done ? "\u2713" : "";
      const pending = li.dataset.required === "true" ? t.missing_label : t.optional_label;
      li.querySelector(".checklist__state").textContent = item.done ? t.received_label : pending;
    }
  }

  function renderNotes(notes) {
    ui.notes.textContent = "";
    for (const note of notes) {
      const li = h("li", "", note);
      li.dir = "auto";
      ui.notes.append(li);
    }
  }

  function renderDocuments(documents) {
    ui.documents.textContent = "";
    for (const doc of documents) {
      const li = h("li", doc.valid ? "document" : "document document--problem");
      li.dataset.id = String(doc.id);
      const name = h("span", "document__name", doc.name);
      name.dir = "auto";
      li.append(name, h("span", "document__label", doc.label));
      if (doc.problem) li.append(h("span", "document__problem", doc.problem));
      if (doc.needs_item) li.append(sorter(doc));
      ui.documents.append(li);
    }
  }

  function sorter(doc) {
    const wrap = h("div", "document__sort");
    const id = `sort-${doc.id}`;
    const label = h("label", "", t.what_is_it);
    label.htmlFor = id;
    const select = document.createElement("select");
    select.id = id;
    for (const item of state.items) {
      const option = h("option", "", item.label);
      option.value = item.key;
      if (item.key === doc.kind) option.selected = true;
      select.append(option);
    }
    const save = h("button", "button button--small", t.save);
    save.type = "button";
    save.addEventListener("click", async () => {
      save.disabled = true;
      try {
        const response = await fetch(`${BASE}/documents/${encodeURIComponent(doc.id)}/item`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ item: select.value }),
        });
        if (response.ok) {
          save.textContent = t.saved;
          refreshStatus();
          return;
        }
      } catch (_error) {
        // fall through: the family can press again
      }
      save.disabled = false;
    });
    wrap.append(label, select, save);
    return wrap;
  }

  // ---------------------------------------------------------------- wiring

  function start() {
    document.querySelectorAll("[data-pick]").forEach((button) => {
      const input = document.getElementById(button.dataset.pick);
      if (!input) return;
      button.disabled = false;
      button.addEventListener("click", () => input.click());
    });
    ui.filesInput.addEventListener("change", () => {
      addFiles(ui.filesInput.files, false);
      ui.filesInput.value = "";
    });
    ui.folderInput.addEventListener("change", () => {
      addFiles(ui.folderInput.files, true);
      ui.folderInput.value = "";
    });
    window.addEventListener("beforeunload", (event) => {
      if (!state.active) return undefined;
      event.preventDefault();
      event.returnValue = t.leave_warning;
      return t.leave_warning;
    });
    window.addEventListener("pagehide", () => {
      // Leaving mid-way: tell the family in the chat about what did arrive.
      if (state.finishedSinceReport && navigator.sendBeacon) navigator.sendBeacon(`${BASE}/done`);
    });
    document.documentElement.classList.add("js");
    refreshStatus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
