/*! cartsite.js 1.0.0 | the storefront client of cartsite | no dependencies, no build step
 *
 * Shops should load the pinned file `/static/cartsite/cartsite-1.0.0.js`; `cartsite.js` always
 * follows the latest release. See docs/storefront.md.
 *
 *   <script src="https://CARTSITE/static/cartsite/cartsite-1.0.0.js"></script>
 *   Cartsite.init({ key: "pk_…", apiBase: "https://CARTSITE", storeName: "myshop.myshopify.com" });
 *   Cartsite.syncCart(items, customer);   // debounced, retried, never throws
 *   Cartsite.track({ productId: "sku-1" }); // survives page unloads
 *
 * Rules this file keeps: it never throws into the host page, never blocks it (every network call is
 * asynchronous and every returned promise resolves, never rejects), and logs at most one
 * console.warn per page.
 */
((root) => {
  "use strict";

  const VERSION = "1.0.0";
  const STORAGE_NAME = "cartsite_session";
  const LINK_PARAMETER = "cart_session";
  // Session tokens the client creates are UUIDs; adopted ones may be any short printable token.
  const TOKEN_PATTERN = /^[A-Za-z0-9._~:-]{1,128}$/;
  // Keepalive requests and beacons share a 64 KiB budget per page; stay under it.
  const KEEPALIVE_MAX_BYTES = 60 * 1024;

  const DEFAULTS = Object.freeze({
    debounceMs: 300, // a burst of changes within this pause is one request
    maxWaitMs: 2000, // ...but a change never waits longer than this, even in a long burst
    retryBaseMs: 1000, // first retry after ~1 s, then 2, 4, 8 … s
    retryMaxMs: 60000, // never wait longer than a minute between retries
    retryJitter: 0.2, // ±20 % so that many tabs do not retry in step
    maxRetries: Infinity, // the last state keeps trying until it reaches the server
    timeoutMs: 10000, // a request that hangs longer counts as failed
    cookieDays: 365,
  });

  // ---------------------------------------------------------------------------------------------
  // Logging: one console.warn per page at most, never console.error.

  let warned = false;

  function warnOnce(message, detail) {
    if (warned) return;
    warned = true;
    try {
      const console = root.console;
      if (console && typeof console.warn === "function") {
        if (detail === undefined) console.warn(`[cartsite] ${message}`);
        else console.warn(`[cartsite] ${message}`, detail);
      }
    } catch (_) {
      // A broken console must not break the page either.
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Retry schedule.

  /** Delay before retry number `attempt` (1, 2, …): base · 2^(attempt-1), capped, with jitter. */
  function retryDelay(attempt, options) {
    const o = Object.assign({}, DEFAULTS, options);
    const exponent = Math.max(0, Math.floor(attempt) - 1);
    const nominal = Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** exponent);
    const random = typeof o.random === "function" ? o.random : Math.random;
    const spread = nominal * o.retryJitter;
    const jittered = nominal - spread + 2 * spread * random();
    return Math.round(Math.min(o.retryMaxMs, Math.max(0, jittered)));
  }

  /** Seconds of a Retry-After header in milliseconds, or null. */
  function retryAfterMs(response) {
    try {
      const value = response.headers && response.headers.get("Retry-After");
      if (!value) return null;
      const seconds = Number(value);
      if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
      const date = Date.parse(value);
      return Number.isFinite(date) ? Math.max(0, date - Date.now()) : null;
    } catch (_) {
      return null;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Session token: localStorage, else a first-party cookie, else memory only.

  function newToken() {
    const crypto = root.crypto;
    if (crypto && typeof crypto.randomUUID === "function") {
      try {
        return crypto.randomUUID();
      } catch (_) {
        // randomUUID exists only in secure contexts; fall through to getRandomValues.
      }
    }
    const bytes = new Uint8Array(16);
    if (crypto && typeof crypto.getRandomValues === "function") crypto.getRandomValues(bytes);
    else for (let i = 0; i < 16; i += 1) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function readCookie(name) {
    try {
      const cookies = String((root.document && root.document.cookie) || "");
      for (const part of cookies.split(";")) {
        const equals = part.indexOf("=");
        if (equals > 0 && part.slice(0, equals).trim() === name) {
          return decodeURIComponent(part.slice(equals + 1).trim());
        }
      }
    } catch (_) {
      // Cookies disabled or a malformed value: no token from here.
    }
    return null;
  }

  function writeCookie(name, value, days) {
    try {
      if (!root.document) return false;
      const secure = root.location && root.location.protocol === "https:" ? "; Secure" : "";
      const maxAge = Math.round(days * 86400);
      root.document.cookie = `${name}=${encodeURIComponent(value)}; Path=/; Max-Age=${maxAge}; SameSite=Lax${secure}`;
      return readCookie(name) === value;
    } catch (_) {
      return false;
    }
  }

  function readStoredToken(name) {
    try {
      // Reading root.localStorage itself throws when storage is blocked.
      const value = root.localStorage && root.localStorage.getItem(name);
      if (value) return value;
    } catch (_) {
      // Blocked storage: try the cookie.
    }
    return readCookie(name);
  }

  /** Stores the token; answers where it went: "localStorage", "cookie" or "memory". */
  function storeToken(name, value, days) {
    try {
      root.localStorage.setItem(name, value);
      if (root.localStorage.getItem(name) === value) return "localStorage";
    } catch (_) {
      // Private modes and blocked storage throw here.
    }
    return writeCookie(name, value, days) ? "cookie" : "memory";
  }

  /** The recovery link's `cart_session`, taken off the address bar (history.replaceState). */
  function takeLinkToken() {
    try {
      if (!root.location || !root.location.href) return null;
      const url = new URL(root.location.href);
      if (!url.searchParams.has(LINK_PARAMETER)) return null;
      const token = url.searchParams.get(LINK_PARAMETER);
      url.searchParams.delete(LINK_PARAMETER);
      try {
        const history = root.history;
        if (history && typeof history.replaceState === "function") {
          history.replaceState(history.state, "", `${url.pathname}${url.search}${url.hash}`);
        }
      } catch (_) {
        // Sandboxed frames may forbid replaceState; the token is still adopted.
      }
      return TOKEN_PATTERN.test(token) ? token : null;
    } catch (_) {
      return null;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Bodies.

  function snapshot(value) {
    // The shop may mutate its arrays after calling syncCart; send what it had at the call.
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  }

  const CUSTOMER_FIELDS = {
    email: "email",
    phone: "phone",
    first_name: "first_name",
    firstName: "first_name",
    last_name: "last_name",
    lastName: "last_name",
  };

  /** The API's `customer` object: known fields only, empty ones left out. */
  function customerBody(customer) {
    if (!customer || typeof customer !== "object") return undefined;
    const body = {};
    for (const [from, to] of Object.entries(CUSTOMER_FIELDS)) {
      const value = customer[from];
      if (value !== undefined && value !== null && String(value).trim() !== "") body[to] = String(value).trim();
    }
    const consent = customer.marketing_consent || customer.marketingConsent;
    if (consent && typeof consent === "object") {
      body.marketing_consent = { email: Boolean(consent.email), whatsapp: Boolean(consent.whatsapp) };
    }
    return Object.keys(body).length ? body : undefined;
  }

  function byteLength(text) {
    try {
      return new Blob([text]).size;
    } catch (_) {
      return text.length * 3;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The client.

  class Client {
    constructor(options) {
      const o = options && typeof options === "object" ? options : {};
      this.options = Object.assign({}, DEFAULTS);
      for (const name of Object.keys(DEFAULTS)) {
        if (typeof o[name] === "number" && o[name] >= 0) this.options[name] = o[name];
      }
      this.key = typeof o.key === "string" ? o.key.trim() : "";
      this.apiBase = String(o.apiBase == null ? "" : o.apiBase).replace(/\/+$/, "");
      this.storeName = o.storeName ? String(o.storeName) : null;
      this.currency = o.currency ? String(o.currency) : null;
      this.userId = o.userId == null ? null : String(o.userId);
      this.cartId = null;
      // Secret keys must never reach a browser: refuse them rather than send them anywhere.
      this.usable = this.key.startsWith("pk_") && typeof root.fetch === "function";
      if (!this.usable) warnOnce("init() needs the store's publishable key (pk_…); nothing will be sent.");

      const linkToken = takeLinkToken();
      const stored = readStoredToken(STORAGE_NAME);
      this.adoptedFromLink = Boolean(linkToken);
      this.sessionToken = linkToken || (stored && TOKEN_PATTERN.test(stored) ? stored : newToken());
      this.tokenStorage = storeToken(STORAGE_NAME, this.sessionToken, this.options.cookieDays);

      this.sameOrigin = this.isSameOrigin();
      this.draft = null; // the latest cart state not yet queued: {body, waiters}
      this.queue = []; // operations in order: {kind: "sync"|"remove", body, waiters}
      this.current = null; // the operation in flight
      this.debounceTimer = null;
      this.maxWaitTimer = null;
      this.retryTimer = null;
      this.attempt = 0;
      this.unloading = false;
      this.listen();
    }

    isSameOrigin() {
      try {
        if (!root.location || !root.location.href) return false;
        return new URL(this.apiBase || "/", root.location.href).origin === new URL(root.location.href).origin;
      } catch (_) {
        return false;
      }
    }

    url(path) {
      return `${this.apiBase}${path}`;
    }

    listen() {
      try {
        if (typeof root.addEventListener !== "function") return;
        root.addEventListener("online", () => this.onOnline());
        root.addEventListener("pagehide", () => this.onPageHide());
        root.addEventListener("pageshow", () => {
          this.unloading = false;
        });
        if (root.document && typeof root.document.addEventListener === "function") {
          root.document.addEventListener("visibilitychange", () => {
            // Mobile browsers may never fire pagehide: a hidden page sends what it has now.
            if (root.document.visibilityState === "hidden") this.flush();
          });
        }
      } catch (_) {
        // No events: the client still works, only without unload and online handling.
      }
    }

    hidden() {
      return Boolean(root.document) && root.document.visibilityState === "hidden";
    }

    offline() {
      return Boolean(root.navigator) && root.navigator.onLine === false;
    }

    // --- cart sync ------------------------------------------------------------------------------

    syncCart(items, customer) {
      return new Promise((resolve) => {
        try {
          if (!this.usable) return resolve(false);
          if (!Array.isArray(items)) {
            warnOnce("syncCart(items, customer) needs an array of items; call ignored.");
            return resolve(false);
          }
          const body = { session_token: this.sessionToken, items: snapshot(items) };
          const customerPart = customerBody(customer);
          if (customerPart) body.customer = snapshot(customerPart);
          if (this.currency) body.currency = this.currency;
          if (this.userId) body.user_id = this.userId;
          if (this.draft) this.draft.body = body;
          else this.draft = { body, waiters: [] };
          this.draft.waiters.push(resolve);
          this.scheduleDraft();
        } catch (error) {
          warnOnce("syncCart() ignored a cart it could not read.", error);
          resolve(false);
        }
      });
    }

    scheduleDraft() {
      root.clearTimeout(this.debounceTimer);
      this.debounceTimer = root.setTimeout(() => this.queueDraft(), this.options.debounceMs);
      if (this.maxWaitTimer === null) {
        this.maxWaitTimer = root.setTimeout(() => this.queueDraft(), this.options.maxWaitMs);
      }
    }

    /** Moves the debounced state into the queue, coalescing with a queued, unsent sync. */
    queueDraft() {
      root.clearTimeout(this.debounceTimer);
      root.clearTimeout(this.maxWaitTimer);
      this.debounceTimer = null;
      this.maxWaitTimer = null;
      const draft = this.draft;
      this.draft = null;
      if (draft) {
        const last = this.queue[this.queue.length - 1];
        if (last && last.kind === "sync") {
          last.body = draft.body;
          last.waiters.push(...draft.waiters);
        } else {
          this.queue.push({ kind: "sync", body: draft.body, waiters: draft.waiters });
        }
      }
      this.pump();
    }

    /** Sends what is pending now (e.g. before a checkout form posts); resolves when it is delivered. */
    flush() {
      return new Promise((resolve) => {
        try {
          if (this.draft) this.draft.waiters.push(resolve);
          else if (this.queue.length) this.queue[this.queue.length - 1].waiters.push(resolve);
          else if (this.current) this.current.waiters.push(resolve);
          else resolve(true);
          if (this.retryTimer !== null && !this.offline()) {
            // A flush is a reason to try now rather than at the end of the backoff.
            root.clearTimeout(this.retryTimer);
            this.retryTimer = null;
          }
          this.queueDraft();
        } catch (error) {
          warnOnce("flush() failed.", error);
          resolve(false);
        }
      });
    }

    // --- the queue: one request at a time, so an older state never overwrites a newer one -----

    pump() {
      if (this.current || this.retryTimer !== null || !this.queue.length) return;
      if (this.offline()) return; // the online event resumes
      const operation = this.queue.shift();
      this.current = operation;
      this.send(operation)
        .then((outcome) => this.settle(operation, outcome))
        .catch((error) => warnOnce("internal error; cart sync stopped.", error));
    }

    settle(operation, outcome) {
      this.current = null;
      if (outcome.retry && (this.unloading || this.attempt >= this.options.maxRetries)) {
        if (!this.unloading) warnOnce(`could not reach ${this.url("")} after ${this.attempt + 1} attempts; giving up.`);
        outcome = { delivered: false };
      }
      if (outcome.retry) {
        // Put it back at the head; a newer sync state queued behind it supersedes its body.
        const next = this.queue[0];
        if (operation.kind === "sync" && next && next.kind === "sync") {
          next.waiters.unshift(...operation.waiters);
        } else {
          this.queue.unshift(operation);
        }
        if (this.offline()) {
          // Offline is not a failure of the server: wait for the online event, do not count it.
          this.attempt = 0;
          return;
        }
        this.attempt += 1;
        const delay = outcome.retryAfterMs != null ? outcome.retryAfterMs : retryDelay(this.attempt, this.options);
        this.retryTimer = root.setTimeout(() => {
          this.retryTimer = null;
          this.pump();
        }, delay);
        return;
      }
      this.attempt = 0;
      for (const resolve of operation.waiters) resolve(outcome.delivered);
      this.pump();
    }

    onOnline() {
      try {
        root.clearTimeout(this.retryTimer);
        this.retryTimer = null;
        this.attempt = 0;
        this.pump();
      } catch (_) {
        // Never throw from an event handler either.
      }
    }

    onPageHide() {
      try {
        this.unloading = true;
        // A queued removal keeps its place in the queue (its request is keepalive); never overtake it.
        if (this.queue.some((operation) => operation.kind === "remove")) return;
        // The latest cart state that may not have reached the server yet goes out with the page.
        let body = this.draft ? this.draft.body : null;
        for (const operation of this.queue) if (!body) body = operation.body;
        if (!body && this.current && this.current.kind === "sync" && !this.current.keepalive) body = this.current.body;
        if (!body || !this.beacon("/cart/sync", JSON.stringify(body))) return;
        // Handed to the browser: do not send the same state again when the page turns hidden.
        const waiters = this.draft ? this.draft.waiters : [];
        for (const operation of this.queue) waiters.push(...operation.waiters);
        root.clearTimeout(this.debounceTimer);
        root.clearTimeout(this.maxWaitTimer);
        this.debounceTimer = null;
        this.maxWaitTimer = null;
        this.draft = null;
        this.queue = [];
        for (const resolve of waiters) resolve(true);
      } catch (_) {
        // Unload handlers must never throw.
      }
    }

    /** One attempt of an operation. Resolves to {delivered} or {retry, retryAfterMs}. */
    async send(operation) {
      try {
        let response;
        if (operation.kind === "sync") {
          const json = JSON.stringify(operation.body);
          // A hidden page may be gone before the answer: such a request must outlive it.
          operation.keepalive = (this.unloading || this.hidden()) && byteLength(json) < KEEPALIVE_MAX_BYTES;
          response = await this.request("POST", "/cart/sync", json, operation.keepalive);
          if (response.ok) {
            const answer = await response.json().catch(() => null);
            if (answer && answer.cart_id) this.cartId = answer.cart_id;
          }
        } else {
          response = await this.request("DELETE", `/api/carts/${encodeURIComponent(this.sessionToken)}`, null, true);
          // No open cart is what removal wants.
          if (response.status === 404) return { delivered: true };
        }
        if (response.ok) return { delivered: true };
        if (response.status === 408 || response.status === 425 || response.status === 429 || response.status >= 500) {
          warnOnce(`${operation.kind === "sync" ? "cart sync" : "cart removal"} answered ${response.status}; retrying.`);
          return { retry: true, retryAfterMs: retryAfterMs(response) };
        }
        // Another 4xx will not get better by sending the same body again.
        const problem = await response.json().catch(() => null);
        warnOnce(
          `${operation.kind === "sync" ? "cart sync" : "cart removal"} was refused (${response.status})`,
          problem && problem.message ? problem.message : undefined,
        );
        return { delivered: false };
      } catch (error) {
        warnOnce(`could not reach ${this.url("")}; retrying in the background.`, error && error.message);
        return { retry: true, retryAfterMs: null };
      }
    }

    /** fetch with the key header and a timeout; rejects on network errors (callers catch). */
    async request(method, path, body, keepalive) {
      const init = {
        method,
        headers: { "X-Store-Key": this.key, Accept: "application/json" },
        mode: "cors",
        credentials: "omit",
        cache: "no-store",
        keepalive: Boolean(keepalive),
      };
      if (body != null) {
        init.headers["Content-Type"] = "application/json";
        init.body = body;
      }
      let timer = null;
      if (typeof root.AbortController === "function" && this.options.timeoutMs > 0) {
        const controller = new root.AbortController();
        init.signal = controller.signal;
        timer = root.setTimeout(() => controller.abort(), this.options.timeoutMs);
      }
      try {
        return await root.fetch(this.url(path), init);
      } finally {
        root.clearTimeout(timer);
      }
    }

    // --- beacons: requests that survive the page -------------------------------------------------

    /**
     * POSTs JSON so that it outlives the page.
     *
     * Same origin: navigator.sendBeacon with an application/json Blob and `?key=` (a beacon cannot
     * set headers). Cross-origin, such a beacon would need a CORS preflight, which sendBeacon does
     * not do; there a `fetch(…, {keepalive: true})` with the key header goes through the store's
     * configured origins (a cached preflight) and outlives the page just the same.
     */
    beacon(path, json) {
      const keyParameter = `key=${encodeURIComponent(this.key)}`;
      const beaconUrl = `${this.url(path)}${path.includes("?") ? "&" : "?"}${keyParameter}`;
      const navigator = root.navigator;
      if (this.sameOrigin && navigator && typeof navigator.sendBeacon === "function" && typeof Blob === "function") {
        try {
          if (navigator.sendBeacon(beaconUrl, new Blob([json], { type: "application/json" }))) return true;
        } catch (_) {
          // Refused (too large, or not allowed): fall back to a keepalive fetch.
        }
      }
      try {
        const sending = this.request("POST", path, json, byteLength(json) < KEEPALIVE_MAX_BYTES);
        sending.then(
          (response) => {
            if (!response.ok) warnOnce(`${path} answered ${response.status}.`);
          },
          (error) => warnOnce(`could not reach ${this.url("")}.`, error && error.message),
        );
        return true;
      } catch (error) {
        warnOnce(`could not send to ${path}.`, error && error.message);
        return false;
      }
    }

    // --- tracking, restore, remove ------------------------------------------------------------

    track(event) {
      try {
        if (!this.usable) return false;
        const payload = Object.assign({}, event && typeof event === "object" ? event : {});
        if (payload.storeName == null && this.storeName) payload.storeName = this.storeName;
        if (payload.sessionId == null) payload.sessionId = this.sessionToken;
        if (payload.userAgent == null && root.navigator && root.navigator.userAgent) {
          payload.userAgent = root.navigator.userAgent;
        }
        return this.beacon("/api/cart-tracking/track", JSON.stringify(payload));
      } catch (error) {
        warnOnce("track() ignored an event it could not read.", error);
        return false;
      }
    }

    /** The open server cart of this session (after a recovery link), or null. */
    async restoreCart() {
      try {
        if (!this.usable) return null;
        const response = await this.request("GET", `/api/carts/${encodeURIComponent(this.sessionToken)}`, null, false);
        if (response.status === 404) return null;
        if (!response.ok) {
          warnOnce(`restoreCart() answered ${response.status}.`);
          return null;
        }
        const cart = await response.json();
        if (cart && cart.cartId) this.cartId = cart.cartId;
        return cart;
      } catch (error) {
        warnOnce(`could not reach ${this.url("")} to restore the cart.`, error && error.message);
        return null;
      }
    }

    /** Takes the cart out of the live view (checkout or clear). Unsent cart states are dropped. */
    removeCart() {
      return new Promise((resolve) => {
        try {
          if (!this.usable) return resolve(false);
          root.clearTimeout(this.debounceTimer);
          root.clearTimeout(this.maxWaitTimer);
          this.debounceTimer = null;
          this.maxWaitTimer = null;
          const dropped = [];
          if (this.draft) dropped.push(...this.draft.waiters);
          this.draft = null;
          this.queue = this.queue.filter((operation) => {
            if (operation.kind !== "sync") return true;
            dropped.push(...operation.waiters);
            return false;
          });
          for (const waiter of dropped) waiter(false);
          this.queue.push({ kind: "remove", body: null, waiters: [resolve] });
          this.cartId = null;
          this.pump();
        } catch (error) {
          warnOnce("removeCart() failed.", error);
          resolve(false);
        }
      });
    }

    /** What a page may show about the client (and tests may inspect). */
    state() {
      return {
        sessionToken: this.sessionToken,
        tokenStorage: this.tokenStorage,
        adoptedFromLink: this.adoptedFromLink,
        cartId: this.cartId,
        pending: Boolean(this.draft) || this.queue.length > 0 || Boolean(this.current),
        attempt: this.attempt,
      };
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The public object: one client per page via init(), or several via createClient().

  let client = null;

  function ready(name) {
    if (client) return true;
    warnOnce(`Cartsite.${name}() called before Cartsite.init(); ignored.`);
    return false;
  }

  function facade(target) {
    return {
      syncCart: (items, customer) => target.syncCart(items, customer),
      track: (event) => target.track(event),
      restoreCart: () => target.restoreCart(),
      removeCart: () => target.removeCart(),
      flush: () => target.flush(),
      state: () => target.state(),
      get sessionToken() {
        return target.sessionToken;
      },
      get adoptedFromLink() {
        return target.adoptedFromLink;
      },
    };
  }

  const Cartsite = {
    VERSION,
    init(options) {
      try {
        client = new Client(options);
        return facade(client);
      } catch (error) {
        warnOnce("init() failed; the shop keeps working without cartsite.", error);
        client = null;
        return null;
      }
    },
    createClient(options) {
      try {
        return facade(new Client(options));
      } catch (error) {
        warnOnce("createClient() failed.", error);
        return null;
      }
    },
    syncCart: (items, customer) => (ready("syncCart") ? client.syncCart(items, customer) : Promise.resolve(false)),
    track: (event) => (ready("track") ? client.track(event) : false),
    restoreCart: () => (ready("restoreCart") ? client.restoreCart() : Promise.resolve(null)),
    removeCart: () => (ready("removeCart") ? client.removeCart() : Promise.resolve(false)),
    flush: () => (ready("flush") ? client.flush() : Promise.resolve(false)),
    state: () => (client ? client.state() : null),
    get sessionToken() {
      return client ? client.sessionToken : null;
    },
    get adoptedFromLink() {
      return client ? client.adoptedFromLink : false;
    },
    retryDelay,
  };

  root.Cartsite = Object.freeze(Cartsite);
})(typeof globalThis !== "undefined" ? globalThis : window);
