// Session token: created with crypto.randomUUID, kept in localStorage or a cookie, adopted from a
// recovery link (and taken off the address bar).
"use strict";

const assert = require("node:assert/strict");
const { test } = require("node:test");
const { makePage, cookieJar } = require("./harness");

const KEY = "pk_test_storefront";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("a first visit creates a token with crypto.randomUUID and keeps it in localStorage", () => {
  const page = makePage();

  page.Cartsite.init({ key: KEY, apiBase: "https://api.example" });

  assert.match(page.Cartsite.sessionToken, UUID);
  assert.equal(page.uuidCount, 1);
  assert.equal(page.storage.get("cartsite_session"), page.Cartsite.sessionToken);
  assert.equal(page.Cartsite.state().tokenStorage, "localStorage");
  assert.equal(page.Cartsite.adoptedFromLink, false);
  assert.equal(page.jar.values.size, 0);
});

test("a later page of the same browser reuses the stored token", () => {
  const storage = new Map();
  const first = makePage({ storage });
  first.Cartsite.init({ key: KEY, apiBase: "https://api.example" });

  const second = makePage({ storage });
  second.Cartsite.init({ key: KEY, apiBase: "https://api.example" });

  assert.equal(second.Cartsite.sessionToken, first.Cartsite.sessionToken);
  assert.equal(second.uuidCount, 0);
});

test("blocked localStorage falls back to a first-party cookie, which later pages read", () => {
  const cookies = cookieJar();
  const first = makePage({ storage: "blocked", cookies });

  first.Cartsite.init({ key: KEY, apiBase: "https://api.example" });

  const token = first.Cartsite.sessionToken;
  assert.match(token, UUID);
  assert.equal(first.Cartsite.state().tokenStorage, "cookie");
  assert.equal(cookies.values.get("cartsite_session"), token);
  assert.deepEqual(first.warnings, []);

  const second = makePage({ storage: "blocked", cookies });
  second.Cartsite.init({ key: KEY, apiBase: "https://api.example" });
  assert.equal(second.Cartsite.sessionToken, token);
  assert.equal(second.uuidCount, 0);
});

test("a recovery link's cart_session is adopted, stored, and removed from the address bar", () => {
  const storage = new Map([["cartsite_session", "older-token"]]);
  const page = makePage({
    storage,
    href: "https://shop.example/cart?utm_source=email&cart_session=session-abc_123.x&lang=de#summary",
  });

  page.Cartsite.init({ key: KEY, apiBase: "https://api.example" });

  assert.equal(page.Cartsite.sessionToken, "session-abc_123.x");
  assert.equal(page.Cartsite.adoptedFromLink, true);
  assert.equal(storage.get("cartsite_session"), "session-abc_123.x");
  assert.deepEqual(page.history.replaced, ["/cart?utm_source=email&lang=de#summary"]);
  assert.deepEqual(page.history.state, { shop: "state" });
  assert.equal(page.location.href, "https://shop.example/cart?utm_source=email&lang=de#summary");
  assert.equal(page.uuidCount, 0);
});

test("a malformed cart_session is removed from the address bar but not adopted", () => {
  const page = makePage({ href: "https://shop.example/cart?cart_session=%3Cscript%3E" });

  page.Cartsite.init({ key: KEY, apiBase: "https://api.example" });

  assert.match(page.Cartsite.sessionToken, UUID);
  assert.equal(page.Cartsite.adoptedFromLink, false);
  assert.equal(page.location.href, "https://shop.example/cart");
});

test("without crypto.randomUUID (an insecure context) the token is still a version 4 UUID", () => {
  const page = makePage({ noRandomUUID: true });

  page.Cartsite.init({ key: KEY, apiBase: "https://api.example" });

  assert.match(page.Cartsite.sessionToken, UUID);
});

test("a secret key is refused: nothing is sent and one warning says why", async () => {
  const page = makePage();

  page.Cartsite.init({ key: "sk_live_secret", apiBase: "https://api.example" });
  const synced = await page.Cartsite.syncCart([{ productId: "a", quantity: 1, price: 1 }]);
  const tracked = page.Cartsite.track({ productId: "a" });
  await page.clock.advance(5000);

  assert.equal(synced, false);
  assert.equal(tracked, false);
  assert.equal(page.fetches.length, 0);
  assert.equal(page.beacons.length, 0);
  assert.equal(page.warnings.length, 1);
  assert.match(page.warnings[0][0], /publishable key/);
});

test("the version constant is exposed", () => {
  const page = makePage();
  assert.equal(page.Cartsite.VERSION, "1.0.0");
});
