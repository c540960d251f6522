// A minimal browser for static/cartsite/cartsite.js: fake window, storage, cookies, fetch, beacons and
// timers, inside a node:vm context, so the script's logic is tested exactly as shipped.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const nodeCrypto = require("node:crypto");

const SCRIPT_PATH = path.join(__dirname, "..", "..", "static", "cartsite", "cartsite.js");
const SCRIPT = fs.readFileSync(SCRIPT_PATH, "utf8");

/** Lets promise callbacks (the script's and ours) run. */
async function settle() {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

class FakeClock {
  constructor() {
    this.now = 0;
    this.nextId = 1;
    this.timers = new Map();
  }

  setTimeout(callback, ms) {
    const id = this.nextId;
    this.nextId += 1;
    this.timers.set(id, { at: this.now + Math.max(0, Number(ms) || 0), callback });
    return id;
  }

  clearTimeout(id) {
    this.timers.delete(id);
  }

  /** Runs every timer due within `ms`, in order, letting promises settle between them. */
  async advance(ms) {
    const target = this.now + ms;
    await settle();
    for (;;) {
      let nextId = null;
      let next = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= target && (next === null || timer.at < next.at)) {
          nextId = id;
          next = timer;
        }
      }
      if (next === null) break;
      this.timers.delete(nextId);
      this.now = next.at;
      next.callback();
      await settle();
    }
    this.now = target;
    await settle();
  }
}

class FakeResponse {
  constructor({ status = 200, body = null, headers = {} }) {
    this.status = status;
    this.ok = status >= 200 && status < 300;
    this.body = body;
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
    this.headers = { get: (name) => lower[name.toLowerCase()] ?? null };
  }

  async json() {
    if (this.body === null) throw new SyntaxError("no body");
    return JSON.parse(JSON.stringify(this.body));
  }
}

function cookieJar() {
  const values = new Map();
  return {
    values,
    get cookie() {
      return [...values].map(([k, v]) => `${k}=${v}`).join("; ");
    },
    set cookie(text) {
      const [pair] = String(text).split(";");
      const equals = pair.indexOf("=");
      values.set(pair.slice(0, equals).trim(), pair.slice(equals + 1).trim());
    },
  };
}

/**
 * A fresh page. Options:
 *   href: the page address; storage: a shared Map (a second page of the same browser), or
 *   "blocked" (every localStorage access throws); cookies: a shared jar; online; respond(call).
 */
function makePage(options = {}) {
  const clock = new FakeClock();
  const fetches = [];
  const beacons = [];
  const warnings = [];
  const errors = [];
  const logs = [];
  const listeners = { window: {}, document: {} };
  let uuidCount = 0;

  const storageMap = options.storage instanceof Map ? options.storage : new Map();
  const jar = options.cookies || cookieJar();
  const localStorage = {
    getItem: (k) => (storageMap.has(k) ? storageMap.get(k) : null),
    setItem: (k, v) => storageMap.set(k, String(v)),
    removeItem: (k) => storageMap.delete(k),
  };

  const location = new URL(options.href || "https://shop.example/products?page=2#top");
  const locationObject = {
    get href() {
      return location.href;
    },
    get origin() {
      return location.origin;
    },
    get protocol() {
      return location.protocol;
    },
  };
  const history = {
    state: { shop: "state" },
    replaced: [],
    replaceState(state, _title, url) {
      this.replaced.push(url);
      this.state = state;
      const next = new URL(url, location.href);
      location.href = next.href;
    },
  };

  const page = {
    clock,
    fetches,
    beacons,
    warnings,
    errors,
    logs,
    storage: storageMap,
    jar,
    history,
    location,
    // Answers a fetch: a FakeResponse spec, or throws for a network error. Tests replace it.
    respond: options.respond || ((call) => ({ status: call.init.method === "POST" ? 201 : 200, body: {} })),
    get uuidCount() {
      return uuidCount;
    },
  };

  const document = {
    visibilityState: "visible",
    addEventListener(type, callback) {
      (listeners.document[type] ||= []).push(callback);
    },
  };
  Object.defineProperty(document, "cookie", {
    get: () => jar.cookie,
    set: (text) => {
      jar.cookie = text;
    },
  });

  const navigator = {
    onLine: options.online !== false,
    userAgent: "cartsite-test-agent",
    sendBeacon(url, data) {
      if (page.beaconRefused) return false;
      beacons.push({ url, data });
      return true;
    },
  };

  const window = {
    console: {
      warn: (...args) => warnings.push(args),
      error: (...args) => errors.push(args),
      log: (...args) => logs.push(args),
      info: (...args) => logs.push(args),
    },
    setTimeout: (callback, ms) => clock.setTimeout(callback, ms),
    clearTimeout: (id) => clock.clearTimeout(id),
    addEventListener(type, callback) {
      (listeners.window[type] ||= []).push(callback);
    },
    fetch(url, init) {
      const call = { url, init, at: clock.now, body: init.body ? JSON.parse(init.body) : null };
      fetches.push(call);
      let answer;
      try {
        answer = page.respond(call);
      } catch (error) {
        return Promise.reject(error);
      }
      if (answer && typeof answer.then === "function") return answer.then((spec) => new FakeResponse(spec));
      return Promise.resolve(new FakeResponse(answer));
    },
    crypto: {
      randomUUID() {
        uuidCount += 1;
        return nodeCrypto.randomUUID();
      },
      getRandomValues: (bytes) => nodeCrypto.getRandomValues(bytes),
    },
    navigator,
    document,
    location: locationObject,
    history,
    URL,
    Blob,
    AbortController,
    Uint8Array,
  };
  if (options.storage === "blocked") {
    Object.defineProperty(window, "localStorage", {
      get() {
        throw new Error("SecurityError: storage is blocked");
      },
    });
  } else {
    window.localStorage = localStorage;
  }
  if (options.noRandomUUID) delete window.crypto.randomUUID;
  if (options.noFetch) delete window.fetch;
  window.window = window;

  const context = vm.createContext(window);
  vm.runInContext(SCRIPT, context, { filename: "cartsite.js" });
  page.window = window;
  page.Cartsite = context.Cartsite;
  page.dispatch = (type) => {
    for (const callback of listeners.window[type] || []) callback({ type });
  };
  page.dispatchDocument = (type) => {
    for (const callback of listeners.document[type] || []) callback({ type });
  };
  page.goOffline = () => {
    navigator.onLine = false;
    page.dispatch("offline");
  };
  page.goOnline = () => {
    navigator.onLine = true;
    page.dispatch("online");
  };
  page.blobText = async (blob) => ({ type: blob.type, json: JSON.parse(await blob.text()) });
  return page;
}

module.exports = { makePage, cookieJar, settle, SCRIPT_PATH };
