// The realtime client against a real node: resume after a dropped socket
// (I4: every missed event once, in seq order, after reconnects with
// back-off), a refused decline rejecting with the node's error code, and a
// driver's location frames reaching a viewer of his order.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type CellsFrame,
  CloseCode,
  RealtimeClient,
  RealtimeError,
  createClient,
  ok,
  type ChannelFrame,
  type DriverFrame,
  type EventFrame,
  type EventFrameOf,
  type LocationFrame,
  type OutriderClient,
  type RealtimeEvents,
} from "../src/index.js";
import { Proxy, adminClient, eventually, newCustomer, newDriver, nodeURL, strongPassword, webSocket, within } from "./node.js";

async function placeOrder(customer: OutriderClient) {
  return ok(
    customer.POST("/v1/orders", {
      body: { pickup: { address: "1 Depot Rd" }, dropoff: { address: "9 Home St" }, delivery_option: "standard" },
    }),
  );
}

test("resume after a dropped socket: back-off, then every missed event once and in order", async (t) => {
  const admin = await adminClient();
  const { client: driver, user: driverUser } = await newDriver(admin);
  const customer = await newCustomer();
  const order = await placeOrder(customer);
  const proxy = await new Proxy(new URL(nodeURL())).start();
  t.after(() => proxy.stop());

  // Back-off made deterministic: the jitter's random source is fixed at
  // 0.5, so attempt n waits half of min(800, 100 · 2^n) ms.
  const watcher = new RealtimeClient({
    url: proxy.url,
    token: () => customer.freshToken(),
    WebSocket: webSocket(),
    backoff: { baseMs: 100, maxMs: 800 },
    random: () => 0.5,
  });
  t.after(() => watcher.close());
  const closes: RealtimeEvents["close"][] = [];
  const opens: RealtimeEvents["open"][] = [];
  watcher.on("close", (c) => closes.push(c));
  watcher.on("open", (o) => opens.push(o));
  await within("connect", watcher.connect());

  const got: EventFrame[] = [];
  const sub = watcher.subscribe(`order:${order.id}`, (f) => {
    if (f.type === "event") got.push(f);
  }, { since: order.version });
  await within("subscribe", sub.ready);
  const path = { params: { path: { id: order.id } } };
  await ok(admin.POST("/v1/orders/{id}/assign", { ...path, body: { driver_id: driverUser.id } }));
  await eventually("order.assigned live", () => got.length === 1);

  // The connection dies and the node is unreachable for a while: the
  // client keeps trying, its pauses doubling to the ceiling.
  proxy.refusing = true;
  proxy.drop();
  await eventually("the drop noticed", () => !watcher.connected && closes.length >= 1);
  await ok(driver.POST("/v1/orders/{id}/accept", path));
  await ok(driver.PUT("/v1/orders/{id}/status", { ...path, body: { status: "picked_up" } }));
  await ok(driver.PUT("/v1/orders/{id}/status", { ...path, body: { status: "in_transit" } }));
  await eventually("five failed reconnects", () => closes.length >= 6, 30_000).catch((e) => {
    throw new Error(`${e}: closes ${JSON.stringify(closes)}, accepted ${proxy.accepted.length}`);
  });
  assert.equal(got.length, 1, "nothing arrives while the node is unreachable");
  proxy.refusing = false;
  await eventually("a connection again", () => watcher.connected);

  // Resumed with since = the last seq delivered: the three missed events,
  // then live ones, each once and in order.
  await eventually("the missed events", () => got.length >= 4);
  await ok(driver.PUT("/v1/orders/{id}/status", { ...path, body: { status: "delivered" } }));
  await eventually("the live event after the resume", () => got.length >= 5);
  await ok(customer.GET("/v1/orders/{id}", path)); // a round trip for any straggler to arrive
  assert.deepEqual(got.map((e) => e.seq), [2, 3, 4, 5, 6]);
  assert.deepEqual(got.map((e) => e.event), [
    "order.assigned",
    "order.accepted",
    "order.status_changed",
    "order.status_changed",
    "order.status_changed",
  ]);
  assert.equal(sub.lastSeq(), 6);

  // The back-off: the drop, then five refused attempts, each pause the
  // jittered ceiling of its attempt, and no attempt before its pause.
  const retries = closes.slice(0, 6);
  assert.ok(retries.every((c) => c.reconnect && c.code === CloseCode.Abnormal), JSON.stringify(retries));
  assert.deepEqual(retries.map((c) => c.delayMs), [50, 100, 200, 400, 400, 400]);
  const attempts = proxy.accepted.slice(1); // the first is the connection that was dropped
  for (let i = 1; i < Math.min(attempts.length, retries.length); i++) {
    const gap = (attempts[i] ?? 0) - (attempts[i - 1] ?? 0);
    assert.ok(gap >= (retries[i]?.delayMs ?? 0) - 5, `attempt ${i + 1} came ${gap.toFixed(0)} ms after the one before, before its pause of ${retries[i]?.delayMs} ms`);
  }
  assert.deepEqual(opens.map((o) => o.retries), [0, closes.length], "the reopen counts the pauses before it");
});

test("accept and decline over the socket: acked, or refused with the node's error code", async (t) => {
  const admin = await adminClient();
  const { client: driver, user: driverUser } = await newDriver(admin);
  const customer = await newCustomer();
  const order = await placeOrder(customer);
  const rt = driver.realtime({ WebSocket: webSocket() });
  t.after(() => rt.close());
  await within("connect", rt.connect());

  // Not offered to him: refused.
  await assert.rejects(rt.decline(order.id), (e: unknown) => e instanceof RealtimeError && e.code === "forbidden" && e.frame?.type === "error");

  const offered = new Promise<EventFrameOf<"job.offered">>((resolve) => rt.onEvent("job.offered", resolve));
  await ok(admin.POST("/v1/orders/{id}/assign", { params: { path: { id: order.id } }, body: { driver_id: driverUser.id } }));
  const offer = await within("job.offered", offered);
  assert.equal(offer.data.order_id, order.id);
  await rt.accept(order.id);
  // Accepted already: declining now is out of state.
  await assert.rejects(rt.decline(order.id), (e: unknown) => e instanceof RealtimeError && e.code === "invalid_transition");
  const now = await ok(admin.GET("/v1/orders/{id}", { params: { path: { id: order.id } } }));
  assert.equal(now.status, "accepted");

  // A second offer, declined: acked, and the order is pending again.
  const second = await placeOrder(customer);
  const offeredAgain = new Promise<EventFrameOf<"job.offered">>((resolve) =>
    rt.onEvent("job.offered", (f) => f.data.order_id === second.id && resolve(f)),
  );
  await ok(admin.PATCH("/v1/drivers/{id}", { params: { path: { id: driverUser.id } }, body: { capacity: 2 } }));
  await ok(admin.POST("/v1/orders/{id}/assign", { params: { path: { id: second.id } }, body: { driver_id: driverUser.id } }));
  await within("the second job.offered", offeredAgain);
  await rt.decline(second.id);
  const back = await ok(admin.GET("/v1/orders/{id}", { params: { path: { id: second.id } } }));
  assert.equal(back.status, "pending");
  assert.equal(back.driver_id, null);
});

test("a driver's location frames reach the viewer of his order; a dropped fix is told", async (t) => {
  const admin = await adminClient();
  const { client: driver, user: driverUser } = await newDriver(admin);
  const customer = await newCustomer();
  const order = await placeOrder(customer);
  await ok(admin.POST("/v1/orders/{id}/assign", { params: { path: { id: order.id } }, body: { driver_id: driverUser.id } }));
  await ok(driver.POST("/v1/orders/{id}/accept", { params: { path: { id: order.id } } }));

  const viewer = customer.realtime({ WebSocket: webSocket(), batch: true });
  t.after(() => viewer.close());
  await within("viewer connect", viewer.connect());
  const seen: LocationFrame[] = [];
  await within("subscribe", viewer.subscribe(`order:${order.id}`, (f) => {
    if (f.type === "location") seen.push(f);
  }).ready);

  const rt = driver.realtime({ WebSocket: webSocket() });
  t.after(() => rt.close());
  await within("driver connect", rt.connect());
  const ts = Date.now();
  await rt.sendLocation({ lat: 52.52, lng: 13.405, heading: 90, speed: 8.5, accuracy: 5, ts });
  const fix = await eventually("the location frame", () => seen[0]);
  assert.equal(fix.channel, `order:${order.id}`);
  assert.equal(fix.driver_id, driverUser.id);
  assert.equal(fix.lat, 52.52);
  assert.equal(fix.lng, 13.405);
  assert.equal(fix.heading, 90);
  assert.equal(Date.parse(fix.ts), ts);

  // 100 km in a second: a GPS jump, dropped and told.
  await assert.rejects(
    rt.sendLocation({ lat: 53.42, lng: 13.405, ts: ts + 1000 }),
    (e: unknown) => e instanceof RealtimeError && e.code === "validation_failed" && /jump/.test(e.message),
  );
  await rt.ping();
  assert.equal(seen.length, 1, "the dropped fix reached nobody");
});

test("logged out on another device: the socket closes with 4001, the refresh is refused, the client stops", async (t) => {
  const password = strongPassword();
  const customer = await newCustomer(password);
  const me = customer.user();
  assert.ok(me);
  const rt = customer.realtime({ WebSocket: webSocket(), backoff: { baseMs: 10, maxMs: 10 } });
  t.after(() => rt.close());
  const closes: RealtimeEvents["close"][] = [];
  rt.on("close", (c) => closes.push(c));
  await within("connect", rt.connect());

  // The same account logs out on a second device: every session ends,
  // every refresh token is revoked.
  const device = createClient({ baseUrl: nodeURL() });
  await device.login(me.email, password);
  await device.logout();

  await eventually("the client to stop", () => closes.some((c) => !c.reconnect));
  assert.deepEqual(closes, [
    { code: CloseCode.Unauthorized, reason: closes[0]?.reason, reconnect: true, delayMs: closes[0]?.delayMs },
    { code: CloseCode.Unauthorized, reason: "no token: the node refused to renew it", reconnect: false },
  ]);
  assert.equal(rt.connected, false);
});

test("fleet: an admin gets every driver's state as driver frames, then their positions", async (t) => {
  const admin = await adminClient();
  const { client: driver, user: driverUser } = await newDriver(admin);
  const rt = admin.realtime({ WebSocket: webSocket() });
  t.after(() => rt.close());
  await within("connect", rt.connect());
  const frames: ChannelFrame[] = [];
  await within("subscribe fleet", rt.subscribe("fleet", (f) => frames.push(f)).ready);
  const state = await eventually("the new driver's driver frame", () =>
    frames.find((f): f is DriverFrame => f.type === "driver" && f.driver_id === driverUser.id),
  );
  assert.equal(state.channel, "fleet");
  assert.equal(state.status, "available");
  assert.equal(state.available, true);
  assert.equal(state.active_orders, 0);

  const dr = driver.realtime({ WebSocket: webSocket() });
  t.after(() => dr.close());
  await within("driver connect", dr.connect());
  await dr.sendLocation({ lat: 48.8566, lng: 2.3522, ts: new Date().toISOString() });
  const moved = await eventually("the driver's position on fleet", () =>
    frames.find((f): f is LocationFrame => f.type === "location" && f.driver_id === driverUser.id),
  );
  assert.equal(moved.channel, "fleet");
  assert.equal(moved.lat, 48.8566);
  assert.equal(moved.lng, 2.3522);
});

test("fleet viewport: drivers inside come as driver frames, the rest as cells; moving the box brings the new ones", async (t) => {
  const admin = await adminClient();
  const box = { south: -34.5, west: 18.0, north: -33.5, east: 19.0 };
  const rt = admin.realtime({ WebSocket: webSocket() });
  t.after(() => rt.close());
  await within("connect", rt.connect());
  const frames: ChannelFrame[] = [];
  await within("subscribe fleet with a viewport", rt.subscribe("fleet", (f) => frames.push(f), { viewport: box }).ready);

  // Two drivers far from every other test's: one moves into the box, one east of it.
  const inside = await newDriver(admin);
  const outside = await newDriver(admin);
  for (const [d, lng] of [[inside, 18.42], [outside, 19.9]] as const) {
    const dr = d.client.realtime({ WebSocket: webSocket() });
    t.after(() => dr.close());
    await within("driver connect", dr.connect());
    await dr.sendLocation({ lat: -33.92, lng, ts: Date.now() });
  }
  const driverFrame = (id: string) => frames.find((f): f is DriverFrame => f.type === "driver" && f.driver_id === id);
  const entered = await eventually("the driver inside", () => driverFrame(inside.user.id));
  assert.equal(entered.status, "available");
  const cells = await eventually("a cells frame counting the driver outside", () =>
    frames.find((f): f is CellsFrame => f.type === "cells" && f.cells.some((c) => c.count >= 1 && c.lng > 19 && c.lng < 20.5 && c.lat < -33)),
  );
  assert.equal(cells.channel, "fleet");
  assert.equal(driverFrame(outside.user.id), undefined, "a driver outside the box is counted, not shown");

  await rt.setViewport({ ...box, east: 20.5 });
  const shown = await eventually("the driver the wider box shows", () => driverFrame(outside.user.id));
  assert.equal(shown.lng, 19.9);
});

test("orders: an admin hears every order's events on one channel, each order's seq its own", async (t) => {
  const admin = await adminClient();
  const customer = await newCustomer();
  const rt = admin.realtime({ WebSocket: webSocket() });
  t.after(() => rt.close());
  await within("connect", rt.connect());
  const created: EventFrameOf<"order.created">[] = [];
  await within("subscribe orders", rt.subscribe("orders", (f) => {
    if (f.type === "event" && f.event === "order.created") created.push(f);
  }).ready);
  const a = await placeOrder(customer);
  const b = await placeOrder(customer);
  await eventually("both order.created", () => [a.id, b.id].every((id) => created.some((f) => f.data.order.id === id)));
  for (const f of created.filter((f) => f.data.order.id === a.id || f.data.order.id === b.id)) {
    assert.equal(f.channel, "orders");
    assert.equal(f.seq, 1, "two orders' first events, both seq 1, both delivered");
  }
});
