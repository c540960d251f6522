// track (beacon / keepalive fetch), restoreCart, removeCart, and the promise never to break the page.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { test } = require("node:test");
const { makePage, settle, SCRIPT_PATH } = require("./harness");

const KEY = "pk_test_storefront";
const item = (productId, quantity, price = 10) => ({ productId, quantity, price });

test("track() on the same origin is a beacon: application/json Blob, key in the query", async () => {
  const page = makePage({ href: "https://shop.example/p/1" });
  page.Cartsite.init({ key: KEY, apiBase: "https://shop.example", storeName: "shop.example" });

  const queued = page.Cartsite.track({ productId: "sku-1", productTitle: "Socks" });

  assert.equal(queued, true);
  assert.equal(page.fetches.length, 0);
  assert.equal(page.beacons.length, 1);
  assert.equal(page.beacons[0].url, `https://shop.example/api/cart-tracking/track?key=${KEY}`);
  const sent = await page.blobText(page.beacons[0].data);
  assert.deepEqual(sent, {
    type: "application/json",
    json: {
      productId: "sku-1",
      productTitle: "Socks",
      storeName: "shop.example",
      sessionId: page.Cartsite.sessionToken,
      userAgent: "cartsite-test-agent",
    },
  });
});

test("track() across origins is a keepalive fetch with the key header (a beacon cannot pass CORS)", async () => {
  const page = makePage({ href: "https://shop.example/p/1" });
  page.Cartsite.init({ key: KEY, apiBase: "https://carts.example.net" });

  const queued = page.Cartsite.track({ productId: "sku-1", sessionId: "given", storeName: "x.example" });
  await settle();

  assert.equal(queued, true);
  assert.equal(page.beacons.length, 0);
  assert.equal(page.fetches.length, 1);
  const [call] = page.fetches;
  assert.equal(call.url, "https://carts.example.net/api/cart-tracking/track");
  assert.equal(call.init.keepalive, true);
  assert.equal(call.init.mode, "cors");
  assert.equal(call.init.headers["X-Store-Key"], KEY);
  assert.equal(call.init.headers["Content-Type"], "application/json");
  assert.deepEqual(call.body, {
    productId: "sku-1",
    sessionId: "given",
    storeName: "x.example",
    userAgent: "cartsite-test-agent",
  });
});

test("a refused beacon falls back to a keepalive fetch", async () => {
  const page = makePage({ href: "https://shop.example/" });
  page.Cartsite.init({ key: KEY, apiBase: "" });
  page.beaconRefused = true;

  assert.equal(page.Cartsite.track({ productId: "sku-1" }), true);
  await settle();

  assert.equal(page.fetches.length, 1);
  assert.equal(page.fetches[0].url, "/api/cart-tracking/track");
  assert.equal(page.fetches[0].init.keepalive, true);
});

test("restoreCart() reads GET /api/carts/<sessionId>; no open cart is null", async () => {
  const page = makePage({ href: "https://shop.example/cart?cart_session=tok-1" });
  page.Cartsite.init({ key: KEY, apiBase: "https://api.example" });
  const cart = { sessionId: "tok-1", cartId: "c-1", items: [item("a", 2)], total: 20, itemCount: 2 };
  page.respond = (call) => (call.url.endsWith("/tok-1") ? { status: 200, body: cart } : { status: 404, body: {} });

  assert.deepEqual(await page.Cartsite.restoreCart(), cart);
  assert.equal(page.fetches[0].url, "https://api.example/api/carts/tok-1");
  assert.equal(page.fetches[0].init.method, "GET");
  assert.equal(page.fetches[0].init.headers["X-Store-Key"], KEY);
  assert.equal(page.Cartsite.state().cartId, "c-1");

  page.respond = () => ({ status: 404, body: { status: "error" } });
  assert.equal(await page.Cartsite.restoreCart(), null);
  assert.deepEqual(page.warnings, []);
});

test("removeCart() drops unsent states and sends DELETE after the request in flight", async () => {
  let release;
  const page = makePage();
  page.Cartsite.init({ key: KEY, apiBase: "https://api.example" });
  page.respond = (call) =>
    call.init.method === "POST" && !release
      ? new Promise((resolve) => (release = resolve))
      : { status: 200, body: { success: true } };
  const answers = [];

  page.Cartsite.syncCart([item("a", 1)]);
  await page.clock.advance(300);
  page.Cartsite.syncCart([item("a", 2)]).then((ok) => answers.push(["unsent sync", ok]));
  page.Cartsite.removeCart().then((ok) => answers.push(["remove", ok]));
  await page.clock.advance(1000);
  assert.equal(page.fetches.length, 1);

  release({ status: 201, body: { created: true, cart_id: "c-1" } });
  await page.clock.advance(0);

  assert.deepEqual(
    page.fetches.map((call) => [call.init.method, call.url]),
    [
      ["POST", "https://api.example/cart/sync"],
      ["DELETE", `https://api.example/api/carts/${page.Cartsite.sessionToken}`],
    ],
  );
  assert.equal(page.fetches[1].init.keepalive, true);
  assert.deepEqual(answers, [
    ["unsent sync", false],
    ["remove", true],
  ]);
});

test("removeCart() of a cart the server no longer has is done (404 is success)", async () => {
  const page = makePage();
  page.Cartsite.init({ key: KEY, apiBase: "https://api.example" });
  page.respond = () => ({ status: 404, body: {} });

  assert.equal(await page.Cartsite.removeCart(), true);
});

test("an unreachable API never throws, never rejects, never logs an error, and warns once", async () => {
  const page = makePage({ href: "https://shop.example/" });
  page.respond = () => {
    throw new TypeError("Failed to fetch");
  };
  const Cartsite = page.Cartsite;
  Cartsite.init({ key: KEY, apiBase: "http://127.0.0.1:9" });

  const answers = await Promise.all([
    Cartsite.restoreCart(),
    (async () => {
      Cartsite.track({ productId: "a" });
      await settle();
      return "tracked";
    })(),
  ]);
  const syncing = Cartsite.syncCart([item("a", 1)]);
  const removing = Cartsite.removeCart();
  await page.clock.advance(10 * 60 * 1000);

  assert.deepEqual(answers, [null, "tracked"]);
  assert.equal(page.warnings.length, 1);
  assert.match(page.warnings[0][0], /^\[cartsite\] could not reach http:\/\/127\.0\.0\.1:9/);
  assert.deepEqual(page.errors, []);
  assert.deepEqual(page.logs, []);
  // Still retrying in the background, with growing pauses.
  const removals = page.fetches.filter((call) => call.init.method === "DELETE").map((call) => call.at);
  const gaps = removals.slice(1).map((at, i) => at - removals[i]);
  assert.ok(gaps[0] < gaps[2] && gaps[2] < gaps[4], `removals at ${removals}`);
  assert.ok(gaps.every((gap) => gap >= 800 && gap <= 60000), `removals at ${removals}`);
  assert.ok(removals.length >= 10 && removals.length <= 20, `removals at ${removals}`);
  page.respond = () => ({ status: 200, body: {} });
  await page.clock.advance(10 * 60 * 1000);
  assert.equal(await syncing, false);
  assert.equal(await removing, true);
});

test("bad input and hostile environments never throw into the page", async () => {
  const page = makePage({ storage: "blocked" });
  const Cartsite = page.Cartsite;
  const cyclic = [item("a", 1)];
  cyclic[0].self = cyclic;

  assert.equal(await Cartsite.syncCart([item("a", 1)]), false); // before init
  assert.equal(Cartsite.track({}), false);
  assert.equal(await Cartsite.restoreCart(), null);
  Cartsite.init(null);
  Cartsite.init({ key: KEY, apiBase: "https://api.example" });
  page.respond = () => {
    throw new Error("synchronous failure inside fetch");
  };
  assert.equal(await Cartsite.syncCart(cyclic), false);
  assert.equal(await Cartsite.syncCart("not a list"), false);
  assert.equal(Cartsite.track(cyclic[0]), false);
  page.window.navigator.sendBeacon = () => {
    throw new Error("beacon exploded");
  };
  page.window.fetch = () => {
    throw new Error("fetch exploded synchronously");
  };
  assert.equal(typeof Cartsite.track({ productId: "a" }), "boolean");
  Cartsite.syncCart([item("a", 1)]);
  await page.clock.advance(5000);
  page.dispatch("pagehide");
  page.dispatch("online");

  assert.equal(page.warnings.length, 1);
  assert.deepEqual(page.errors, []);
});

test("several clients on one page keep separate queues", async () => {
  const page = makePage();
  const first = page.Cartsite.createClient({ key: "pk_first", apiBase: "https://one.example" });
  const second = page.Cartsite.createClient({ key: "pk_second", apiBase: "https://two.example" });

  first.syncCart([item("a", 1)]);
  second.syncCart([item("b", 2)]);
  await page.clock.advance(300);

  assert.deepEqual(page.fetches.map((call) => call.url).sort(), [
    "https://one.example/cart/sync",
    "https://two.example/cart/sync",
  ]);
});

test("the pinned file is the same script as cartsite.js", () => {
  const pinned = path.join(path.dirname(SCRIPT_PATH), "cartsite-1.0.0.js");
  assert.equal(fs.readFileSync(pinned, "utf8"), fs.readFileSync(SCRIPT_PATH, "utf8"));
});
