// The realtime client's machinery on a scripted socket and manual timers,
// where the cases a real node produces rarely or only by timing are made
// on demand: back-off bounds, repeats after a resume, answers out of
// order, batches, each close code's decision, a handshake that never
// finishes. The same behaviour against a real node: realtime.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  RealtimeClient,
  RealtimeError,
  backoffDelay,
  reconnects,
  wsURL,
  type ChannelFrame,
  type ClientFrame,
  type EventFrameOf,
  type RealtimeEvents,
  type RealtimeOptions,
  type ServerFrame,
  type ServerMessage,
  type Timers,
  type WebSocketLike,
} from "../src/realtime.js";

test("back-off: full jitter within [0, min(max, base·2^n)), the ceiling doubling to the max", () => {
  const b = { baseMs: 100, maxMs: 5_000 };
  for (let n = 0; n < 40; n++) {
    const ceiling = Math.min(b.maxMs, b.baseMs * 2 ** n);
    assert.equal(backoffDelay(n, b, () => 0), 0, `attempt ${n}, random 0`);
    assert.equal(backoffDelay(n, b, () => 0.5), Math.floor(ceiling / 2), `attempt ${n}, random 0.5`);
    assert.equal(backoffDelay(n, b, () => 0.999999999), ceiling - 1, `attempt ${n}, random → 1`);
    assert.equal(backoffDelay(n, b, () => 1), ceiling - 1, `attempt ${n}: a random source returning 1 stays below the ceiling`);
    assert.equal(backoffDelay(n, b, () => -3), 0, `attempt ${n}: a negative random is 0`);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(n, b, Math.random);
      assert.ok(d >= 0 && d < ceiling, `attempt ${n}: ${d} outside [0, ${ceiling})`);
    }
  }
  assert.equal(backoffDelay(3, b, () => 0.5), 400);
  assert.equal(backoffDelay(6, b, () => 0.5), 2_500, "capped at maxMs");
});

test("close codes: which reconnect", () => {
  const cases: Array<[number, boolean, boolean]> = [
    [1000, false, true],
    [1001, false, true],
    [1002, true, false],
    [1003, true, false],
    [1006, false, true],
    [1007, true, false],
    [1008, false, true],
    [1009, true, false],
    [1011, false, true],
    [4001, false, false],
    [4001, true, true],
    [4008, false, true],
    [4009, true, false],
  ];
  for (const [code, fresh, want] of cases) {
    assert.equal(reconnects(code, fresh), want, `code ${code}, fresh tokens ${fresh}`);
  }
});

test("wsURL: scheme, path and query", () => {
  assert.equal(wsURL("http://h:8080", "t.k", false), "ws://h:8080/v1/ws?access_token=t.k");
  assert.equal(wsURL("https://h/api/", "t", true), "wss://h/api/v1/ws?access_token=t&batch=1");
  assert.equal(wsURL("ws://h/v1/ws", "a b", false), "ws://h/v1/ws?access_token=a+b");
});

test("a resumed subscription asks since the last seq and delivers each event once, in order", async () => {
  const h = harness();
  const got: number[] = [];
  const sub = h.rt.subscribe("order:o1", (f) => {
    if (f.type === "event") got.push(f.seq);
  }, { since: 5 });
  const ws = await h.open();
  const first = ws.take("subscribe");
  assert.equal(first.since, 5);
  ws.receive({ type: "ack", id: first.id });
  await sub.ready;
  for (const seq of [5, 6, 7, 6, 8]) ws.receive(event("order:o1", seq)); // 5 ≤ since and the second 6 are repeats
  assert.deepEqual(got, [6, 7, 8]);

  ws.die(1006);
  const again = await h.open();
  const resub = again.take("subscribe");
  assert.equal(resub.since, 8, "resubscribed with since = the last seq delivered");
  again.receive({ type: "ack", id: resub.id });
  for (const seq of [7, 8, 9, 10]) again.receive(event("order:o1", seq)); // a replay overlapping what was seen
  assert.deepEqual(got, [6, 7, 8, 9, 10]);
  assert.equal(sub.lastSeq(), 10);
});

test("requests are matched to their answers by id, and a drop rejects those still waiting", async () => {
  const h = harness();
  await assert.rejects(h.rt.accept("o0"), (e: unknown) => e instanceof RealtimeError && e.code === "not_connected");
  const ws = await h.open();
  const a = h.rt.accept("o1");
  const d = h.rt.decline("o2");
  const fix = h.rt.sendLocation({ lat: 1, lng: 2, ts: 1_700_000_000_000 });
  const [fa, fd, fl] = [ws.take("accept"), ws.take("decline"), ws.take("location")];
  assert.equal(fa.order_id, "o1");
  assert.equal(fd.order_id, "o2");
  assert.deepEqual({ lat: fl.lat, lng: fl.lng, ts: fl.ts }, { lat: 1, lng: 2, ts: 1_700_000_000_000 });
  assert.equal(new Set([fa.id, fd.id, fl.id]).size, 3, "each request has its own id");
  // Answered out of order, in one batch.
  ws.receive([
    { type: "error", id: fd.id, code: "invalid_transition", message: "order o2 is accepted" },
    { type: "ack", id: fa.id },
  ]);
  await a;
  await assert.rejects(d, (e: unknown) => e instanceof RealtimeError && e.code === "invalid_transition" && e.frame?.message === "order o2 is accepted");
  ws.die(1006);
  await assert.rejects(fix, (e: unknown) => e instanceof RealtimeError && e.code === "connection_closed");
});

test("a request with no answer times out", async () => {
  const h = harness({ requestTimeoutMs: 1234 });
  await h.open();
  const a = h.rt.accept("o1");
  h.timers.fire(1234);
  await assert.rejects(a, (e: unknown) => e instanceof RealtimeError && e.code === "timeout");
});

test("frames of a batch are handled in order; frames of channels not subscribed reach onEvent only", async () => {
  const h = harness();
  const seen: string[] = [];
  h.rt.subscribeOrder("o1", (f) => seen.push(`${f.type}:${f.type === "event" ? f.seq : f.driver_id}`), { since: 0 });
  const offers: Array<EventFrameOf<"job.offered">> = [];
  h.rt.onEvent("job.offered", (f) => offers.push(f));
  const ws = await h.open();
  ws.receive({ type: "ack", id: ws.take("subscribe").id });
  ws.receive([
    event("order:o1", 1),
    { type: "location", channel: "order:o1", driver_id: "d1", lat: 1, lng: 2, ts: "2026-01-01T00:00:00Z" },
    event("order:o1", 2),
    offered("user:d1"),
  ]);
  assert.deepEqual(seen, ["event:1", "location:d1", "event:2"]);
  assert.equal(offers.length, 1);
});

test("a refused subscribe rejects ready and is not sent again; a subscription the node ends is dropped", async () => {
  const h = harness();
  const errors: RealtimeEvents["error"][] = [];
  h.rt.on("error", (e) => errors.push(e));
  const refused = h.rt.subscribe("order:nope", () => {});
  const ended = h.rt.subscribe("order:o2", () => {}, { since: 3 });
  const ws = await h.open();
  const [s1, s2] = [ws.take("subscribe"), ws.take("subscribe")];
  ws.receive({ type: "error", id: s1.id, code: "not_found", message: "no such order" });
  ws.receive({ type: "ack", id: s2.id });
  await assert.rejects(refused.ready, (e: unknown) => e instanceof RealtimeError && e.code === "not_found");
  await ended.ready;
  ws.receive({ type: "error", channel: "order:o2", code: "forbidden", message: "you may no longer watch this order" });
  assert.deepEqual(errors.map((e) => e.frame?.code), ["not_found", "forbidden"]);
  ws.die(1001);
  const again = await h.open();
  assert.deepEqual(again.sent.filter((f) => f.type === "subscribe"), [], "neither is sent again");
});

test("fleet: the viewport is sent with the subscribe, moved with an acked viewport frame, and resent after a reconnect", async () => {
  const h = harness();
  const box = { south: 1, west: 2, north: 3, east: 4 };
  h.rt.subscribe("fleet", () => {}, { viewport: box });
  const ws = await h.open();
  const sub = ws.take("subscribe");
  assert.deepEqual(sub.viewport, box);
  assert.equal(sub.since, undefined);
  ws.receive({ type: "ack", id: sub.id });
  const moved = h.rt.setViewport({ ...box, east: 5, zoom: 9 });
  const frame = ws.take("viewport");
  assert.deepEqual(frame.viewport, { ...box, east: 5, zoom: 9 });
  ws.receive({ type: "ack", id: frame.id });
  await moved;
  ws.die(1006);
  const again = await h.open();
  assert.deepEqual(again.take("subscribe").viewport, { ...box, east: 5, zoom: 9 }, "the box shown last");
});

test("4009 (session limit) and protocol errors end the client; 4001 reconnects only with a token function", async () => {
  for (const code of [4009, 1002, 1009]) {
    const h = harness();
    const sub = h.rt.subscribe("order:o1", () => {});
    const ws = await h.open();
    ws.die(code);
    await assert.rejects(sub.ready, (e: unknown) => e instanceof RealtimeError && e.code === "connection_closed");
    assert.deepEqual(h.closes.at(-1), { code, reason: "", reconnect: false });
    assert.equal(h.timers.pending().length, 0, `no reconnect scheduled after ${code}`);
  }
  const fixed = harness({ token: "static" });
  (await fixed.open()).die(4001);
  assert.equal(fixed.closes.at(-1)?.reconnect, false, "a fixed token would be refused again");

  const asked: boolean[] = [];
  const fresh = harness({ token: ({ refused }) => `fresh-${asked.push(refused)}` });
  const ws = await fresh.open();
  assert.match(ws.url, /access_token=fresh-1/);
  ws.die(4001);
  assert.equal(fresh.closes.at(-1)?.reconnect, true);
  const again = await fresh.open();
  assert.match(again.url, /access_token=fresh-2/, "each connect asks the function for a token");
  again.die(1006);
  await fresh.open();
  assert.deepEqual(asked, [false, true, false], "told when the node refused the last token");
});

test("a token function that fails is retried, unless the node refused the token (status 401)", async () => {
  let calls = 0;
  const h = harness({
    token: () => {
      calls++;
      if (calls === 1) throw new Error("network down");
      throw Object.assign(new Error("401 unauthorized"), { status: 401 });
    },
  });
  const first = h.rt.connect();
  await flush();
  assert.deepEqual(h.closes, [{ code: 1006, reason: "no token", reconnect: true, delayMs: 125 }]);
  h.timers.fire(125);
  await flush();
  assert.equal(calls, 2);
  assert.deepEqual(h.closes.at(-1), { code: 4001, reason: "no token: the node refused to renew it", reconnect: false });
  await assert.rejects(first, (e: unknown) => e instanceof RealtimeError && e.code === "connection_closed");
  assert.equal(h.timers.pending().length, 0);
});

test("a handshake that fails without a close, or never finishes, counts as a failed attempt", async () => {
  const h = harness({ connectTimeoutMs: 5_000 });
  h.rt.connect().catch(() => {});
  await flush();
  const first = h.last();
  first.onerror?.({ type: "error" }); // Node 20's WebSocket: an error, no close
  assert.deepEqual(h.closes.map((c) => c.delayMs), [125]);
  h.timers.fire(125);
  await flush();
  assert.notEqual(h.last(), first, "a new attempt");
  h.timers.fire(5_000); // it never opens
  assert.deepEqual(h.closes.map((c) => c.delayMs), [125, 250]);
  assert.equal(h.last().closedWith?.code, 4000, "the stuck socket is closed");
});

test("back-off: the pauses double per failed attempt and start over after an open", async () => {
  const h = harness();
  const ws = await h.open();
  ws.die(1006);
  for (let i = 0; i < 4; i++) {
    h.timers.fire(h.closes.at(-1)?.delayMs ?? -1);
    await flush();
    h.last().die(1006);
  }
  assert.deepEqual(h.closes.map((c) => c.delayMs), [125, 250, 500, 1000, 2000]);
  h.timers.fire(2000);
  await flush();
  h.last().accept();
  assert.deepEqual(h.opens.map((o) => o.retries), [0, 5]);
  h.last().die(1011);
  assert.equal(h.closes.at(-1)?.delayMs, 125, "the first pause again");
});

test("close(): no reconnect, waiting requests, pings and subscriptions rejected", async () => {
  const h = harness();
  const ws = await h.open();
  const a = h.rt.accept("o1");
  const p = h.rt.ping();
  const sub = h.rt.subscribe("order:o1", () => {});
  h.rt.close();
  await assert.rejects(a, (e: unknown) => e instanceof RealtimeError && e.code === "closed");
  await assert.rejects(p, (e: unknown) => e instanceof RealtimeError && e.code === "closed");
  await assert.rejects(sub.ready, (e: unknown) => e instanceof RealtimeError && e.code === "closed");
  assert.equal(ws.closedWith?.code, 1000);
  assert.equal(h.timers.pending().length, 0);
  assert.equal(h.closes.at(-1)?.reconnect, false);
});

test("heartbeat: a pong late by more than timeoutMs drops the connection and reconnects", async () => {
  const h = harness({ heartbeat: { intervalMs: 1_000, timeoutMs: 300 } });
  const ws = await h.open();
  h.timers.fire(1_000);
  ws.take("ping");
  ws.receive({ type: "pong" });
  await flush();
  h.timers.fire(1_000);
  ws.take("ping");
  h.timers.fire(300);
  assert.equal(h.closes.at(-1)?.reconnect, true);
  assert.equal(ws.closedWith?.code, 4000);
});

// --- the scripted socket and timers ---

type Sent<T extends ClientFrame["type"]> = Extract<ClientFrame, { type: T }>;

class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: unknown) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: ClientFrame[] = [];
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientFrame);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
  }
  accept(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(msg: ServerMessage): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  die(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
  /** The first frame of type not taken yet. */
  take<T extends ClientFrame["type"]>(type: T): Sent<T> {
    const i = this.sent.findIndex((f) => f.type === type);
    assert.ok(i >= 0, `no ${type} frame sent: ${JSON.stringify(this.sent)}`);
    return this.sent.splice(i, 1)[0] as Sent<T>;
  }
}

class ManualTimers implements Timers {
  private next = 0;
  private readonly queue = new Map<number, { fn: () => void; ms: number }>();
  setTimeout(fn: () => void, ms: number): unknown {
    this.queue.set(++this.next, { fn, ms });
    return this.next;
  }
  clearTimeout(handle: unknown): void {
    this.queue.delete(handle as number);
  }
  pending(): number[] {
    return [...this.queue.values()].map((t) => t.ms);
  }
  /** Runs the timers set for ms (the oldest first); fails if there is none. */
  fire(ms: number): void {
    const due = [...this.queue].filter(([, t]) => t.ms === ms);
    assert.ok(due.length > 0, `no timer of ${ms} ms; pending: ${this.pending().join(", ")}`);
    for (const [id, t] of due) {
      this.queue.delete(id);
      t.fn();
    }
  }
}

function harness(opts: Partial<RealtimeOptions> = {}) {
  const sockets: FakeSocket[] = [];
  const timers = new ManualTimers();
  const rt = new RealtimeClient({
    url: "http://node.test",
    token: () => "tok",
    WebSocket: class extends FakeSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    },
    timers,
    random: () => 0.5,
    ...opts,
  });
  const closes: RealtimeEvents["close"][] = [];
  const opens: RealtimeEvents["open"][] = [];
  rt.on("close", (c) => closes.push(c));
  rt.on("open", (o) => opens.push(o));
  const last = (): FakeSocket => {
    const s = sockets.at(-1);
    assert.ok(s, "no socket made");
    return s;
  };
  return {
    rt,
    timers,
    closes,
    opens,
    last,
    /** Connects (or lets the pending reconnect run) and opens the socket. */
    async open(): Promise<FakeSocket> {
      const before = sockets.length;
      rt.connect().catch(() => {});
      const retry = closes.at(-1);
      if (retry?.reconnect && retry.delayMs !== undefined && timers.pending().includes(retry.delayMs)) {
        timers.fire(retry.delayMs);
      }
      await flush();
      assert.equal(sockets.length, before + 1, "a new socket");
      last().accept();
      return last();
    },
  };
}

/** Lets the client's awaits (the token function) run. */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function event(channel: string, seq: number): ServerFrame & ChannelFrame {
  return {
    type: "event",
    channel,
    seq,
    event: "order.status_changed",
    at: "2026-01-01T00:00:00Z",
    data: {
      by: { user_id: "d1", role: "driver" },
      order: {
        id: channel.slice("order:".length),
        customer_id: "c1",
        driver_id: "d1",
        pickup: { address: "1 Depot Rd" },
        dropoff: { address: "9 Home St" },
        delivery_option: "standard",
        scheduled_for: null,
        payment_status: "unpaid",
        status: "in_transit",
        notes: "",
        offer_expires_at: null,
        version: seq,
        created_at: "2026-01-01T00:00:00Z",
        updated_at: "2026-01-01T00:00:00Z",
      },
    },
  };
}

function offered(channel: string): EventFrameOf<"job.offered"> {
  return {
    type: "event",
    channel,
    seq: 0,
    event: "job.offered",
    at: "2026-01-01T00:00:00Z",
    data: {
      id: "j1",
      event: "job.offered",
      driver_id: "d1",
      order_id: "o9",
      offer_id: "of1",
      expires_at: "2026-01-01T00:00:45Z",
      pickup: { address: "1 Depot Rd" },
      dropoff: { address: "9 Home St" },
      at: "2026-01-01T00:00:00Z",
    },
  };
}
