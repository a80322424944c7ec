// An order's whole life through the SDK against a real node: admin login,
// a driver made and made available, a customer signing up and placing an
// order watched over the socket, assignment, the driver's accept over the
// socket, the statuses to delivered with a proof photo uploaded on the
// way, then the timeline and the notifications read with their typed
// fields. Every HTTP call goes through openapi-fetch with the generated
// paths; every frame is a generated type.
import { test } from "node:test";
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { ok, type EventFrame, type EventFrameOf, type Notification } from "../src/index.js";
import { adminClient, eventually, newCustomer, newDriver, webSocket, within } from "./node.js";

test("an order's lifecycle through the SDK", async (t) => {
  const admin = await adminClient();
  assert.equal(admin.user()?.role, "admin");
  const { client: driver, user: driverUser } = await newDriver(admin);
  const customer = await newCustomer();
  const customerId = customer.user()?.id;
  assert.ok(customerId);

  const order = await ok(
    customer.POST("/v1/orders", {
      body: {
        pickup: { address: "1 Depot Rd", lat: 52.52, lng: 13.405 },
        dropoff: { address: "9 Home St", lat: 52.51, lng: 13.39 },
        delivery_option: "standard",
      },
    }),
  );
  assert.equal(order.status, "pending");
  assert.equal(order.customer_id, customerId);

  // The customer watches the order from its first version on, and hears
  // his notifications on his user channel.
  const watcher = customer.realtime({ WebSocket: webSocket() });
  t.after(() => watcher.close());
  await within("the customer's socket", watcher.connect());
  const events: EventFrame[] = [];
  const sub = watcher.subscribe(`order:${order.id}`, (f) => {
    if (f.type === "event") events.push(f);
  }, { since: order.version });
  await within("the subscribe ack", sub.ready);
  const told: Notification[] = [];
  watcher.onEvent("notification.created", (f) => told.push(f.data));

  // The driver's socket hears the offer and accepts it there.
  const rt = driver.realtime({ WebSocket: webSocket() });
  t.after(() => rt.close());
  await within("the driver's socket", rt.connect());
  const offered = new Promise<EventFrameOf<"job.offered">>((resolve) => {
    rt.onEvent("job.offered", (f) => {
      if (f.data.order_id === order.id) resolve(f);
    });
  });
  const assigned = await ok(
    admin.POST("/v1/orders/{id}/assign", { params: { path: { id: order.id } }, body: { driver_id: driverUser.id } }),
  );
  assert.equal(assigned.status, "assigned");
  const offer = await within("job.offered", offered);
  assert.equal(offer.channel, `user:${driverUser.id}`);
  assert.equal(offer.data.pickup.address, "1 Depot Rd");
  assert.ok(Date.parse(offer.data.expires_at) > Date.now(), "the offer expires in the future");
  await within("the accept's ack", rt.accept(order.id));

  for (const status of ["picked_up", "in_transit"] as const) {
    const o = await ok(driver.PUT("/v1/orders/{id}/status", { params: { path: { id: order.id } }, body: { status } }));
    assert.equal(o.status, status);
  }

  // Proof of delivery: presign, upload straight to the storage, record.
  const photo = png(4, 4);
  const up = await ok(
    driver.POST("/v1/uploads/presign", { body: { order_id: order.id, content_type: "image/png", content_length: photo.length } }),
  );
  const put = await fetch(up.url, { method: up.method, headers: up.headers, body: photo });
  assert.ok(put.ok, `the upload answered ${put.status}`);
  const proof = await ok(driver.POST("/v1/orders/{id}/proofs", { params: { path: { id: order.id } }, body: { key: up.key } }));
  assert.equal(proof.content_type, "image/png");
  assert.equal(proof.size, photo.length);

  const delivered = await ok(
    driver.PUT("/v1/orders/{id}/status", { params: { path: { id: order.id } }, body: { status: "delivered" } }),
  );
  assert.equal(delivered.status, "delivered");

  // The watcher saw every event after version 1 once, in order, each
  // carrying the order at its seq.
  await eventually("every event on the socket", () => events.length >= delivered.version - order.version);
  assert.deepEqual(
    events.map((e) => e.seq),
    Array.from({ length: delivered.version - order.version }, (_, i) => order.version + 1 + i),
  );
  assert.deepEqual(
    events.map((e) => e.event),
    ["order.assigned", "order.accepted", "order.status_changed", "order.status_changed", "order.proof_added", "order.status_changed"],
  );
  for (const e of events) {
    if (e.event.startsWith("order.") && "order" in e.data) {
      assert.equal(e.data.order.version, e.seq, `${e.event} carries the order at its seq`);
    }
  }

  // The timeline, its metadata typed per event.
  const timeline = await ok(customer.GET("/v1/orders/{id}/timeline", { params: { path: { id: order.id } } }));
  assert.deepEqual(timeline.items.map((e) => e.seq), Array.from({ length: delivered.version }, (_, i) => i + 1));
  const meta = timeline.items.map((e) => e.metadata);
  const assignedMeta = meta.find((m) => m.event === "order.assigned");
  assert.ok(assignedMeta && assignedMeta.event === "order.assigned");
  assert.equal(assignedMeta.driver_id, driverUser.id);
  assert.ok(assignedMeta.offer_id.length > 0);
  const changes = meta.flatMap((m) => (m.event === "order.status_changed" ? [m.from] : []));
  assert.deepEqual(changes, ["accepted", "picked_up", "in_transit"]);
  const proofMeta = meta.find((m) => m.event === "order.proof_added");
  assert.ok(proofMeta && proofMeta.event === "order.proof_added");
  assert.equal(timeline.items.at(-1)?.by.user_id, driverUser.id);
  assert.equal(timeline.items.at(-1)?.by.role, "driver");

  // Notifications, their payload typed: over HTTP and on the socket.
  const mine = await eventually("the delivered notification", async () => {
    const page = await ok(customer.GET("/v1/notifications", { params: { query: { unread: "true" } } }));
    const forOrder = page.items.filter((n) => n.payload.order_id === order.id);
    return forOrder.some((n) => n.payload.status === "delivered") && forOrder;
  });
  const done = mine.find((n) => n.payload.status === "delivered");
  assert.ok(done);
  assert.equal(done.type, "order.status_changed");
  assert.ok(done.payload.message.length > 0);
  assert.equal(done.payload.by.user_id, driverUser.id);
  assert.equal(done.payload.seq, delivered.version);
  await eventually("notification.created on the socket", () => told.some((n) => n.id === done.id));
  await ok(customer.POST("/v1/notifications/{id}/read", { params: { path: { id: done.id } } }));
  const unread = await ok(customer.GET("/v1/notifications", { params: { query: { unread: "true" } } }));
  assert.ok(!unread.items.some((n) => n.id === done.id), "a read notification is no longer unread");

  // The customer fetches the photo through the proof's short-lived URL.
  const proofs = await ok(customer.GET("/v1/orders/{id}/proofs", { params: { path: { id: order.id } } }));
  assert.deepEqual(proofs.items.map((p) => p.seq), [proof.seq]);
  const got = await fetch(proofs.items[0]?.url ?? "");
  assert.deepEqual(new Uint8Array(await got.arrayBuffer()), photo);
});

test("a refused HTTP call throws ApiError with the problem's code", async () => {
  const customer = await newCustomer();
  await assert.rejects(
    ok(customer.GET("/v1/orders/{id}", { params: { path: { id: "no-such-order" } } })),
    (e: unknown) => e instanceof Error && "code" in e && e.code === "not_found" && "status" in e && e.status === 404,
  );
});

test("an expired access token is refreshed once and the call sent again", async () => {
  const customer = await newCustomer();
  const me = customer.user();
  assert.ok(me);
  // A token the node refuses (a JWT with a bad signature), as an expired one would be.
  const [h, p] = (customer.accessToken() ?? "").split(".");
  customer.setTokens({ access_token: `${h}.${p}.AAAA` });
  const got = await ok(customer.GET("/v1/me"));
  assert.equal(got.id, me.id);
  assert.notEqual(customer.accessToken(), `${h}.${p}.AAAA`, "the refresh replaced the token");

  // Logged out: the refresh is refused as well, and the call answers its 401.
  const token = customer.accessToken();
  assert.ok(token);
  await customer.logout();
  customer.setTokens({ access_token: token, refresh_token: "spent" });
  const r = await customer.GET("/v1/me");
  assert.equal(r.response.status, 401);
  assert.equal(r.error?.code, "unauthorized");
});

/** A w×h PNG, grey, made here so the test needs no file. */
function png(w: number, h: number): Uint8Array<ArrayBuffer> {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer): number => {
    let c = 0xffffffff;
    for (const x of b) c = (crcTable[(c ^ x) & 0xff] ?? 0) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const rows = Buffer.alloc((w + 1) * h, 0x80);
  for (let y = 0; y < h; y++) rows[y * (w + 1)] = 0; // filter: none
  return Uint8Array.from(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]));
}
