// syncCart: debounced (bursts coalesce, the last state always goes), one request at a time,
// retried with exponential backoff on 5xx and network errors, paused while offline.
"use strict";

const assert = require("node:assert/strict");
const { test } = require("node:test");
const { makePage, settle } = require("./harness");

const KEY = "pk_test_storefront";
const API = "https://api.example";
const item = (productId, quantity, price = 10) => ({ productId, quantity, price });

function started(options = {}) {
  const page = makePage(options.page);
  page.Cartsite.init({ key: KEY, apiBase: `${API}/`, retryJitter: 0, ...options.init });
  return page;
}

test("a burst of changes is one request carrying the last state", async () => {
  const page = started();
  const answers = [];

  for (let quantity = 1; quantity <= 5; quantity += 1) {
    page.Cartsite.syncCart([item("sku-1", quantity)]).then((ok) => answers.push(ok));
    await page.clock.advance(50);
  }
  assert.equal(page.fetches.length, 0);
  await page.clock.advance(300);

  assert.equal(page.fetches.length, 1);
  const [call] = page.fetches;
  assert.equal(call.url, `${API}/cart/sync`);
  assert.equal(call.init.method, "POST");
  assert.equal(call.init.headers["X-Store-Key"], KEY);
  assert.equal(call.init.headers["Content-Type"], "application/json");
  assert.equal(call.init.credentials, "omit");
  assert.deepEqual(call.body, { session_token: page.Cartsite.sessionToken, items: [item("sku-1", 5)] });
  assert.equal(call.at, 200 + 300);
  assert.deepEqual(answers, [true, true, true, true, true]);
});

test("a change never waits longer than maxWaitMs, even inside an endless burst", async () => {
  const page = started();

  for (let step = 1; step <= 15; step += 1) {
    page.Cartsite.syncCart([item("sku-1", step)]);
    await page.clock.advance(200);
  }
  await page.clock.advance(1000);

  assert.deepEqual(
    page.fetches.map((call) => [call.at, call.body.items[0].quantity]),
    [
      [2000, 10],
      [3100, 15],
    ],
  );
});

test("the state is copied at the call: later mutations of the shop's array are not sent early", async () => {
  const page = started();
  const items = [item("sku-1", 1)];

  page.Cartsite.syncCart(items, { email: " ann@example.com ", firstName: "Ann", phone: "", marketingConsent: { email: 1 } });
  items[0].quantity = 99;
  items.push(item("sku-2", 1));
  await page.clock.advance(300);

  assert.deepEqual(page.fetches[0].body, {
    session_token: page.Cartsite.sessionToken,
    items: [item("sku-1", 1)],
    customer: { email: "ann@example.com", first_name: "Ann", marketing_consent: { email: true, whatsapp: false } },
  });
});

test("one request at a time: a change made during a request is sent after it, never lost", async () => {
  let release;
  const page = started();
  page.respond = (call) =>
    call.body.items[0].quantity === 1 ? new Promise((resolve) => (release = resolve)) : { status: 200, body: {} };

  page.Cartsite.syncCart([item("sku-1", 1)]);
  await page.clock.advance(300);
  page.Cartsite.syncCart([item("sku-1", 2)]);
  page.Cartsite.syncCart([item("sku-1", 3)]);
  await page.clock.advance(1000);
  assert.equal(page.fetches.length, 1);

  release({ status: 201, body: { created: true, cart_id: "c0ffee00-0000-4000-8000-000000000001" } });
  await settle();
  await page.clock.advance(0);

  assert.deepEqual(
    page.fetches.map((call) => call.body.items[0].quantity),
    [1, 3],
  );
  assert.equal(page.Cartsite.state().cartId, "c0ffee00-0000-4000-8000-000000000001");
});

test("5xx and network errors are retried after 1, 2, 4, 8 s … capped, until the state arrives", async () => {
  const page = started({ init: { retryMaxMs: 4000 } });
  let failures = 5;
  page.respond = () => {
    failures -= 1;
    if (failures >= 3) return { status: 503, body: { status: "error" } };
    if (failures >= 0) throw new TypeError("Failed to fetch");
    return { status: 200, body: {} };
  };
  let delivered = null;

  page.Cartsite.syncCart([item("sku-1", 1)]).then((ok) => (delivered = ok));
  await page.clock.advance(60000);

  assert.deepEqual(
    page.fetches.map((call) => call.at),
    [300, 1300, 3300, 7300, 11300, 15300],
  );
  assert.equal(delivered, true);
  assert.equal(page.warnings.length, 1);
  assert.equal(page.Cartsite.state().attempt, 0);
});

test("a retry carries the newest state, and every caller learns it was delivered", async () => {
  const page = started();
  let calls = 0;
  page.respond = () => {
    calls += 1;
    return calls === 1 ? { status: 500, body: {} } : { status: 200, body: {} };
  };
  const answers = [];

  page.Cartsite.syncCart([item("sku-1", 1)]).then((ok) => answers.push(["first", ok]));
  await page.clock.advance(400);
  page.Cartsite.syncCart([item("sku-1", 2)]).then((ok) => answers.push(["second", ok]));
  await page.clock.advance(5000);

  assert.deepEqual(
    page.fetches.map((call) => [call.at, call.body.items[0].quantity]),
    [
      [300, 1],
      [1300, 2],
    ],
  );
  assert.deepEqual(answers, [
    ["first", true],
    ["second", true],
  ]);
});

test("Retry-After of a 429 decides the wait", async () => {
  const page = started();
  let calls = 0;
  page.respond = () => {
    calls += 1;
    return calls === 1 ? { status: 429, headers: { "Retry-After": "7" }, body: {} } : { status: 200, body: {} };
  };

  page.Cartsite.syncCart([item("sku-1", 1)]);
  await page.clock.advance(20000);

  assert.deepEqual(
    page.fetches.map((call) => call.at),
    [300, 7300],
  );
});

test("a 400 is not retried: the promise answers false and one warning names the reason", async () => {
  const page = started();
  page.respond = () => ({ status: 400, body: { status: "error", message: "items[0].quantity must be at least 1" } });
  let delivered = null;

  page.Cartsite.syncCart([item("sku-1", 0)]).then((ok) => (delivered = ok));
  await page.clock.advance(60000);

  assert.equal(page.fetches.length, 1);
  assert.equal(delivered, false);
  assert.deepEqual(page.warnings, [["[cartsite] cart sync was refused (400)", "items[0].quantity must be at least 1"]]);
});

test("offline: nothing is sent and no attempt counted; the online event sends the last state at once", async () => {
  const page = started({ page: { online: false } });

  page.Cartsite.syncCart([item("sku-1", 1)]);
  page.Cartsite.syncCart([item("sku-1", 2)]);
  await page.clock.advance(120000);
  assert.equal(page.fetches.length, 0);

  page.goOnline();
  await settle();

  assert.equal(page.fetches.length, 1);
  assert.equal(page.fetches[0].at, 120000);
  assert.equal(page.fetches[0].body.items[0].quantity, 2);
});

test("going offline during backoff waits for the online event instead of the timer", async () => {
  const page = started();
  let calls = 0;
  page.respond = () => {
    calls += 1;
    if (calls === 1) {
      page.window.navigator.onLine = false;
      throw new TypeError("Failed to fetch");
    }
    return { status: 200, body: {} };
  };

  page.Cartsite.syncCart([item("sku-1", 1)]);
  await page.clock.advance(60000);
  assert.equal(page.fetches.length, 1);

  page.goOnline();
  await settle();
  assert.equal(page.fetches.length, 2);
  assert.equal(page.fetches[1].at, 60000);
});

test("flush() sends at once without waiting for the debounce", async () => {
  const page = started();

  page.Cartsite.syncCart([item("sku-1", 4)]);
  const delivered = page.Cartsite.flush();
  await settle();

  assert.equal(page.fetches.length, 1);
  assert.equal(page.fetches[0].at, 0);
  assert.equal(await delivered, true);
});

test("the page being hidden sends the pending state at once, with keepalive", async () => {
  const page = started();

  page.Cartsite.syncCart([item("sku-1", 2)]);
  page.window.document.visibilityState = "hidden";
  page.dispatchDocument("visibilitychange");
  await settle();

  assert.equal(page.fetches.length, 1);
  assert.equal(page.fetches[0].init.keepalive, true);
});

test("pagehide with an unsent state sends it as a same-origin beacon with the key parameter", async () => {
  const page = started({ page: { href: "https://shop.example/cart" }, init: { apiBase: "" } });

  const answers = [];
  page.Cartsite.syncCart([item("sku-1", 1)]).then((ok) => answers.push(ok));
  page.Cartsite.syncCart([item("sku-1", 3)]).then((ok) => answers.push(ok));
  page.dispatch("pagehide");
  // Browsers turn the page hidden after pagehide: the state handed to the beacon is not sent twice.
  page.window.document.visibilityState = "hidden";
  page.dispatchDocument("visibilitychange");
  await page.clock.advance(5000);

  assert.deepEqual(answers, [true, true]);
  assert.equal(page.fetches.length, 0);
  assert.equal(page.beacons.length, 1);
  assert.equal(page.beacons[0].url, `/cart/sync?key=${KEY}`);
  const sent = await page.blobText(page.beacons[0].data);
  assert.equal(sent.type, "application/json");
  assert.deepEqual(sent.json.items, [item("sku-1", 3)]);
});

test("retryDelay: base · 2^(n-1), capped at retryMaxMs, jitter within ±retryJitter", () => {
  const { Cartsite } = makePage();
  const exact = { retryJitter: 0 };

  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => Cartsite.retryDelay(n, exact)),
    [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000],
  );
  assert.equal(Cartsite.retryDelay(3, { random: () => 0 }), 3200);
  assert.equal(Cartsite.retryDelay(3, { random: () => 0.999999 }), 4800);
  assert.equal(Cartsite.retryDelay(10, { random: () => 0.999999 }), 60000);
});

test("pagehide never sends a cart state ahead of a queued removal", async () => {
  let release;
  const page = started({ page: { href: "https://shop.example/cart" }, init: { apiBase: "" } });
  page.respond = (call) =>
    call.init.method === "POST" && !release ? new Promise((resolve) => (release = resolve)) : { status: 200, body: {} };

  page.Cartsite.syncCart([item("sku-1", 1)]);
  await page.clock.advance(300);
  page.Cartsite.removeCart();
  page.dispatch("pagehide");

  assert.equal(page.beacons.length, 0);
  release({ status: 200, body: {} });
  await page.clock.advance(0);
  assert.deepEqual(
    page.fetches.map((call) => [call.init.method, call.init.keepalive]),
    [
      ["POST", false],
      ["DELETE", true],
    ],
  );
});
