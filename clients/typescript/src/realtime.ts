/**
 * The realtime client of Outrider's WebSocket protocol (GET /v1/ws).
 *
 * Every frame type comes from the OpenAPI document (`ServerFrame`,
 * `ClientFrame`, `EventFrame`, `ServerMessage` in src/schema.ts); this
 * file adds the behaviour a client needs around them:
 *
 * - connect with an access token (a string, or a function called on every
 *   connect so that each one gets a fresh token);
 * - subscriptions that survive reconnects: the client remembers the last
 *   seq it delivered per order channel and resubscribes with
 *   `since` = that seq, and drops any event at or below it, so a handler
 *   sees each event once, in seq order (DESIGN.md I4);
 * - reconnects with exponential back-off and full jitter, except after the
 *   close codes that say a new connection would fail the same way
 *   ({@link reconnects});
 * - requests matched to their answers by frame `id`: `accept`, `decline`,
 *   `sendLocation`, `subscribe` and `unsubscribe` resolve on the `ack` and
 *   reject with the `error` frame's code and message; a dropped socket
 *   rejects every request still waiting;
 * - batches: with `batch: true` the node may send several frames as one
 *   JSON array; the client reads both shapes.
 *
 * It uses only the standard WebSocket interface (browsers, Deno, Bun,
 * Node ≥ 22, Node 20 with --experimental-websocket); pass `WebSocket` to
 * use another implementation such as the `ws` package.
 */
import type { components } from "./schema.js";

type S = components["schemas"];

/** One frame the node sends. */
export type ServerFrame = S["ServerFrame"];
/** One WebSocket message from the node: a frame, or on `?batch=1` sessions an array of frames. */
export type ServerMessage = S["ServerMessage"];
/** One frame a client sends. */
export type ClientFrame = S["ClientFrame"];
/** An event frame, one variant per `event` with its typed `data`. */
export type EventFrame = S["EventFrame"];
/** Every event name the node sends. */
export type EventName = EventFrame["event"];
/** The event frame of one event name. */
export type EventFrameOf<E extends EventName> = Extract<EventFrame, { event: E }>;
/** The server frame of one `type`. */
export type ServerFrameOf<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;
export type AckFrame = ServerFrameOf<"ack">;
export type ErrorFrame = ServerFrameOf<"error">;
export type PongFrame = ServerFrameOf<"pong">;
export type LocationFrame = ServerFrameOf<"location">;
/** A driver's state on the fleet channel (admins). */
export type DriverFrame = ServerFrameOf<"driver">;
/** An event frame of an order channel: the order at the event's seq, and who caused it. */
export type OrderEventFrame = Extract<EventFrame, { data: S["OrderEventData"] }>;
/** What an order channel (`order:<id>`) carries: the order's events and its driver's positions. */
export type OrderChannelFrame = OrderEventFrame | LocationFrame;
/** Frames that belong to a channel: events, driver locations, fleet frames. */
export type ChannelFrame = Extract<ServerFrame, { channel: string }>;
/** The part of the map a fleet watcher shows (subscribe to `fleet` with it, then {@link RealtimeClient.setViewport}). */
export type Viewport = S["Viewport"];
/** Drivers per map tile outside the viewport, on the fleet channel. */
export type CellsFrame = ServerFrameOf<"cells">;
/** What a driver sends in a location frame (the client adds `type` and `id`). */
export type LocationFix = Omit<S["ClientLocationFrame"], "type" | "id">;

/** The close codes of transport/ws/closecodes.go. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  Unauthorized: 4001,
  SlowConsumer: 4008,
  SessionLimit: 4009,
} as const;

/**
 * Whether a connection closed with code should be followed by another.
 * No after 4009 (the user opened more sessions than his role may hold and
 * this, his oldest, made way: fighting back would evict the newer one),
 * nor after the codes that mean this client broke the protocol (1002,
 * 1003, 1007, 1009: the next connection would break it again). 4001
 * (token expired or revoked) reconnects only when the token comes from a
 * function, which can give a fresh one. Everything else — a node going
 * away (1001), failing (1011), a slow consumer (4008), a dropped
 * connection (1006) — reconnects and resumes.
 */
export function reconnects(code: number, freshTokens: boolean): boolean {
  switch (code) {
    case CloseCode.SessionLimit:
    case CloseCode.ProtocolError:
    case CloseCode.UnsupportedData:
    case CloseCode.InvalidPayload:
    case CloseCode.MessageTooBig:
      return false;
    case CloseCode.Unauthorized:
      return freshTokens;
  }
  return true;
}

/** Exponential back-off bounds, in milliseconds. */
export interface Backoff {
  /** The ceiling of the first pause (default 250). */
  baseMs: number;
  /** The largest ceiling (default 30,000). */
  maxMs: number;
}

export const defaultBackoff: Backoff = { baseMs: 250, maxMs: 30_000 };

/**
 * The pause before reconnect attempt `attempt` (0 for the first after a
 * drop): "full jitter", uniform in [0, min(maxMs, baseMs · 2^attempt)),
 * so that clients dropped together do not come back together. `random`
 * returns a number in [0, 1) like Math.random.
 */
export function backoffDelay(attempt: number, b: Backoff, random: () => number): number {
  const ceiling = Math.min(b.maxMs, b.baseMs * 2 ** Math.max(0, attempt));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.min(Math.floor(r * ceiling), Math.max(0, ceiling - 1));
}

/**
 * The part of the standard WebSocket interface the client uses. Events
 * are typed loosely so that browser, undici and `ws` sockets all fit.
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => any) | null;
  onmessage: ((ev: any) => any) | null;
  onclose: ((ev: any) => any) | null;
  onerror: ((ev: any) => any) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Timer functions; a test may pass its own. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RealtimeOptions {
  /** The node's base URL (http, https, ws or wss); `/v1/ws` is added unless the path ends with it. */
  url: string;
  /**
   * The access token, or a function that returns one, called on every
   * connect; `refused` is true when the node closed the last connection
   * with 4001 (token expired or revoked), so the function must not give
   * the same token again. A function that throws is retried with
   * back-off, unless its error has `status` 401 (an ApiError of a refused
   * refresh): then the client stops, as the node would refuse it again.
   */
  token: string | ((context: { refused: boolean }) => string | Promise<string>);
  /** Ask for batches (`?batch=1`): queued frames may arrive as one JSON array. */
  batch?: boolean;
  /** The WebSocket constructor (default: globalThis.WebSocket). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect back-off bounds (default {@link defaultBackoff}). */
  backoff?: Partial<Backoff>;
  /** The jitter's random source, in [0, 1) (default Math.random). */
  random?: () => number;
  /** Timer functions (default the global ones). */
  timers?: Timers;
  /**
   * How long a connection may take to open before it counts as failed
   * (default 10 s): some WebSocket implementations report a failed
   * handshake late or never.
   */
  connectTimeoutMs?: number;
  /** How long a request waits for its ack or error (default 20 s; the node answers within 15 s). */
  requestTimeoutMs?: number;
  /**
   * Send a ping every intervalMs and drop the connection (then reconnect)
   * when its pong takes longer than timeoutMs: finds a connection that
   * died without a close. Off by default.
   */
  heartbeat?: { intervalMs: number; timeoutMs: number };
}

/** Why a request failed: the node's error frame, or the connection. */
export class RealtimeError extends Error {
  /** The error frame's code, or `not_connected`, `connection_closed`, `timeout`, `closed`. */
  readonly code: ErrorFrame["code"] | "not_connected" | "connection_closed" | "timeout" | "closed";
  /** The error frame, when the node sent one. */
  readonly frame: ErrorFrame | undefined;
  constructor(code: RealtimeError["code"], message: string, frame?: ErrorFrame) {
    super(`${code}: ${message}`);
    this.name = "RealtimeError";
    this.code = code;
    this.frame = frame;
  }
}

/** What the client tells its listeners. */
export interface RealtimeEvents {
  /** A connection opened; retries is how many pauses came before it since the last one (0 for the first). */
  open: { retries: number };
  /** A connection closed; reconnect says whether another follows, after delayMs. */
  close: { code: number; reason: string; reconnect: boolean; delayMs?: number };
  /** A connection attempt failed, a token could not be had, or the node sent an error frame no request waits for. */
  error: { error: Error; frame?: ErrorFrame };
  /** Every frame the node sent, before it is handled. */
  frame: ServerFrame;
}

/** A subscription to a channel (see {@link RealtimeClient.subscribe}). */
export interface Subscription {
  readonly channel: string;
  /** Resolves on the node's first ack; rejects with its error frame (the subscription is then dropped). */
  readonly ready: Promise<void>;
  /** The last seq delivered on this order channel, if any. */
  lastSeq(): number | undefined;
  /** Stops this handler; the last handler of a channel unsubscribes it. */
  unsubscribe(): Promise<void>;
}

export type ChannelHandler = (frame: ChannelFrame) => void;

interface Sub {
  channel: string;
  handlers: Set<ChannelHandler>;
  since: number | undefined; // the `since` asked for, until an event moves it
  last: number | undefined; // the last seq delivered (order channels)
  viewport: Viewport | undefined; // fleet: the box shown now
  ready: Promise<void>;
  settle: { resolve: () => void; reject: (e: Error) => void; done: boolean };
}

interface Pending {
  resolve: () => void;
  reject: (e: RealtimeError) => void;
  timer: unknown;
  sub?: Sub; // a subscribe: a dropped socket resends it instead of failing
}

type Listener<K extends keyof RealtimeEvents> = (ev: RealtimeEvents[K]) => void;

/** The realtime client; see the file comment. */
export class RealtimeClient {
  private readonly opts: RealtimeOptions;
  private readonly backoff: Backoff;
  private readonly random: () => number;
  private readonly timers: Timers;
  private readonly WS: WebSocketConstructor;
  private ws: WebSocketLike | undefined;
  private state: "idle" | "connecting" | "open" | "waiting" | "closed" = "idle";
  private attempt = 0;
  private refused = false; // the last connection closed with 4001
  private nextId = 0;
  private retryTimer: unknown;
  private connectTimer: unknown;
  private beatTimer: unknown;
  private readonly pending = new Map<string, Pending>();
  private readonly subs = new Map<string, Sub>();
  private pongs: Array<{ resolve: () => void; reject: (e: RealtimeError) => void }> = [];
  private readonly listeners: { [K in keyof RealtimeEvents]: Set<Listener<K>> } = {
    open: new Set(),
    close: new Set(),
    error: new Set(),
    frame: new Set(),
  };
  private firstOpen: { resolve: () => void; reject: (e: Error) => void; promise: Promise<void> };

  constructor(options: RealtimeOptions) {
    this.opts = options;
    this.backoff = { ...defaultBackoff, ...options.backoff };
    this.random = options.random ?? Math.random;
    this.timers = options.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>),
    };
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) {
      throw new Error("no WebSocket: pass options.WebSocket (Node 20: run with --experimental-websocket, or use the ws package)");
    }
    this.WS = WS;
    let resolve!: () => void, reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => {});
    this.firstOpen = { resolve, reject, promise };
  }

  /** Registers a listener; returns the function that removes it. */
  on<K extends keyof RealtimeEvents>(type: K, listener: Listener<K>): () => void {
    this.listeners[type].add(listener);
    return () => this.listeners[type].delete(listener);
  }

  /** Calls handler with every event frame named `event`, on any channel (no subscription made). */
  onEvent<E extends EventName>(event: E, handler: (frame: EventFrameOf<E>) => void): () => void {
    return this.on("frame", (f) => {
      if (f.type === "event" && f.event === event) {
        handler(f as EventFrameOf<E>);
      }
    });
  }

  /**
   * Starts connecting (and reconnecting until {@link close}); resolves on
   * the first open, rejects if the client stops before one.
   */
  connect(): Promise<void> {
    if (this.state === "idle") {
      void this.dial();
    }
    return this.firstOpen.promise;
  }

  /** Whether a connection is open now. */
  get connected(): boolean {
    return this.state === "open";
  }

  /**
   * Subscribes handler to channel (`order:<id>`, `user:<id>`, `fleet`).
   * Pass `since` (e.g. the order's `version`) to receive every event after
   * it, replayed first; without it the node starts with the next event,
   * and resume is exact from the first event delivered on. Subscriptions
   * are sent on every (re)connect, with `since` = the last seq delivered.
   * A second subscribe to the same channel adds its handler (its `since`
   * is not used).
   */
  subscribe(channel: string, handler: ChannelHandler, options: { since?: number; viewport?: Viewport } = {}): Subscription {
    let sub = this.subs.get(channel);
    if (!sub) {
      let resolve!: () => void, reject!: (e: Error) => void;
      const ready = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      ready.catch(() => {});
      const settle = { resolve, reject, done: false };
      sub = { channel, handlers: new Set(), since: options.since, last: undefined, viewport: options.viewport, ready, settle };
      this.subs.set(channel, sub);
      if (this.state === "open") {
        this.sendSubscribe(sub);
      }
    }
    const s = sub;
    const own: ChannelHandler = (f) => handler(f);
    s.handlers.add(own);
    return {
      channel,
      ready: s.ready,
      lastSeq: () => s.last,
      unsubscribe: async () => {
        s.handlers.delete(own);
        if (s.handlers.size > 0 || this.subs.get(channel) !== s) {
          return;
        }
        this.subs.delete(channel);
        if (this.state === "open") {
          await this.request({ type: "unsubscribe", channel });
        }
      },
    };
  }

  /**
   * {@link subscribe} to `order:<orderId>`, with the handler typed for what
   * an order channel carries (the document's EventFrame says order
   * channels carry the order events; locations come as LocationFrame).
   */
  subscribeOrder(orderId: string, handler: (frame: OrderChannelFrame) => void, options: { since?: number } = {}): Subscription {
    return this.subscribe(`order:${orderId}`, (f) => handler(f as OrderChannelFrame), options);
  }

  /**
   * Moves the fleet subscription's viewport (admins, subscribed to `fleet`
   * with a viewport): resolves on the ack, after which the drivers the new
   * box shows arrive. Remembered for the next (re)subscribe; while
   * disconnected it only does that, and resolves.
   */
  setViewport(viewport: Viewport): Promise<void> {
    const sub = this.subs.get("fleet");
    if (!sub) {
      return Promise.reject(new RealtimeError("not_connected", "not subscribed to fleet"));
    }
    sub.viewport = viewport;
    if (this.state !== "open") {
      return Promise.resolve();
    }
    return this.request({ type: "viewport", channel: "fleet", viewport });
  }

  /** Accepts the job offered on order orderId (drivers); resolves on the ack. */
  accept(orderId: string): Promise<void> {
    return this.request({ type: "accept", order_id: orderId });
  }

  /** Declines the job offered on order orderId (drivers); resolves on the ack. */
  decline(orderId: string): Promise<void> {
    return this.request({ type: "decline", order_id: orderId });
  }

  /**
   * Sends a driver's location fix; resolves on the ack, rejects when the
   * node dropped it (validation_failed for a stale fix or a GPS jump,
   * rate_limited above the location rate). Fixes are not queued while
   * disconnected: the promise rejects with `not_connected`.
   */
  sendLocation(fix: LocationFix): Promise<void> {
    return this.request({ ...fix, type: "location" });
  }

  /** Sends a ping; resolves on the next pong. */
  ping(): Promise<void> {
    if (this.state !== "open" || !this.ws) {
      return Promise.reject(new RealtimeError("not_connected", "not connected"));
    }
    const p = new Promise<void>((resolve, reject) => this.pongs.push({ resolve, reject }));
    this.send({ type: "ping" });
    return p;
  }

  /** Closes the connection for good: no reconnect; waiting requests reject with `closed`. */
  close(): void {
    const was = this.state;
    this.state = "closed";
    this.timers.clearTimeout(this.retryTimer);
    this.timers.clearTimeout(this.connectTimer);
    this.stopHeartbeat();
    this.failWaiting(new RealtimeError("closed", "the client was closed"));
    this.failSubscriptions(new RealtimeError("closed", "the client was closed before the node acked the subscription"));
    this.firstOpen.reject(new RealtimeError("closed", "the client was closed before it connected"));
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      detach(ws);
      ws.close(CloseCode.Normal, "client closed");
    }
    if (was !== "closed") {
      this.emit("close", { code: CloseCode.Normal, reason: "client closed", reconnect: false });
    }
  }

  // --- connection ---

  private async dial(): Promise<void> {
    this.state = "connecting";
    let token: string;
    try {
      token = typeof this.opts.token === "function" ? await this.opts.token({ refused: this.refused }) : this.opts.token;
    } catch (e) {
      if (this.state !== "connecting") {
        return;
      }
      this.emit("error", { error: asError(e, "the token function failed") });
      if ((e as { status?: unknown } | null)?.status === 401) {
        // The node refused the refresh (logged out, revoked): a retry
        // would be refused the same way.
        this.stop(CloseCode.Unauthorized, "no token: the node refused to renew it");
      } else {
        this.retry(CloseCode.Abnormal, "no token");
      }
      return;
    }
    if (this.state !== "connecting") {
      return; // closed meanwhile
    }
    let ws: WebSocketLike;
    try {
      ws = new this.WS(wsURL(this.opts.url, token, this.opts.batch === true));
    } catch (e) {
      this.emit("error", { error: asError(e, "cannot open the WebSocket") });
      this.stop(CloseCode.Abnormal, "cannot open the WebSocket");
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.opened(ws);
    ws.onmessage = (ev: { data: unknown }) => this.message(ws, ev.data);
    ws.onerror = (ev: unknown) => {
      if (this.ws !== ws) {
        return;
      }
      this.emit("error", { error: asError((ev as { error?: unknown })?.error, "WebSocket error") });
      if (this.state === "connecting") {
        // A failed handshake: browsers follow with a close (1006), Node
        // 20's WebSocket does not. Either way this attempt is over.
        this.abandon(ws, "the connection failed");
      }
    };
    ws.onclose = (ev: { code?: number; reason?: string }) => this.closed(ws, ev.code ?? CloseCode.Abnormal, ev.reason ?? "");
    this.connectTimer = this.timers.setTimeout(() => {
      if (this.ws === ws && this.state === "connecting") {
        this.abandon(ws, "the connection did not open in time");
      }
    }, this.opts.connectTimeoutMs ?? 10_000);
  }

  private opened(ws: WebSocketLike): void {
    if (this.ws !== ws) {
      return;
    }
    const retries = this.attempt;
    this.timers.clearTimeout(this.connectTimer);
    this.state = "open";
    this.refused = false;
    this.attempt = 0;
    for (const sub of this.subs.values()) {
      this.sendSubscribe(sub);
    }
    this.startHeartbeat();
    this.emit("open", { retries });
    this.firstOpen.resolve();
  }

  private closed(ws: WebSocketLike, code: number, reason: string): void {
    if (this.ws !== ws) {
      return;
    }
    detach(ws);
    this.ws = undefined;
    this.timers.clearTimeout(this.connectTimer);
    this.stopHeartbeat();
    this.failWaiting(new RealtimeError("connection_closed", `the connection closed (${code}${reason ? " " + reason : ""})`));
    this.refused = code === CloseCode.Unauthorized;
    if (reconnects(code, typeof this.opts.token === "function")) {
      this.retry(code, reason);
    } else {
      this.stop(code, reason);
    }
  }

  /** Gives up on connection ws as if it had died (1006), closes it, and reconnects. */
  private abandon(ws: WebSocketLike, reason: string): void {
    this.closed(ws, CloseCode.Abnormal, reason);
    try {
      ws.close(4000, reason);
    } catch {
      // not open yet, or closing already
    }
  }

  private retry(code: number, reason: string): void {
    const delayMs = backoffDelay(this.attempt, this.backoff, this.random);
    this.attempt++;
    this.state = "waiting";
    this.emit("close", { code, reason, reconnect: true, delayMs });
    this.retryTimer = this.timers.setTimeout(() => {
      if (this.state === "waiting") {
        void this.dial();
      }
    }, delayMs);
  }

  private stop(code: number, reason: string): void {
    this.state = "closed";
    const err = new RealtimeError("connection_closed", `closed for good with ${code} ${reason}`);
    this.failSubscriptions(err);
    this.firstOpen.reject(err);
    this.emit("close", { code, reason, reconnect: false });
  }

  private startHeartbeat(): void {
    const hb = this.opts.heartbeat;
    if (!hb) {
      return;
    }
    const beat = () => {
      const ws = this.ws;
      const timeout = this.timers.setTimeout(() => {
        if (ws && this.ws === ws) {
          this.abandon(ws, "no pong");
        }
      }, hb.timeoutMs);
      this.ping().then(
        () => this.timers.clearTimeout(timeout),
        () => this.timers.clearTimeout(timeout),
      );
      this.beatTimer = this.timers.setTimeout(beat, hb.intervalMs);
    };
    this.beatTimer = this.timers.setTimeout(beat, hb.intervalMs);
  }

  private stopHeartbeat(): void {
    this.timers.clearTimeout(this.beatTimer);
  }

  // --- frames ---

  private sendSubscribe(sub: Sub): void {
    const id = this.id();
    const since = sub.last ?? sub.since;
    const frame: Sent<"subscribe"> = { type: "subscribe", channel: sub.channel, id };
    if (since !== undefined) {
      frame.since = since;
    }
    if (sub.viewport !== undefined) {
      frame.viewport = sub.viewport;
    }
    this.pending.set(id, {
      sub,
      timer: undefined,
      resolve: () => {
        sub.settle.done = true;
        sub.settle.resolve();
      },
      reject: (e) => {
        if (this.subs.get(sub.channel) === sub) {
          this.subs.delete(sub.channel);
        }
        sub.settle.done = true;
        sub.settle.reject(e);
        this.emit("error", { error: e, ...(e.frame ? { frame: e.frame } : {}) });
      },
    });
    this.send(frame);
  }

  /** Sends frame with a new id; resolves on its ack, rejects on its error. */
  private request(frame: DistributiveOmit<ClientFrame, "id">): Promise<void> {
    if (this.state !== "open" || !this.ws) {
      return Promise.reject(new RealtimeError("not_connected", `not connected; ${frame.type} not sent`));
    }
    const id = this.id();
    return new Promise<void>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        if (this.pending.delete(id)) {
          reject(new RealtimeError("timeout", `no answer to ${frame.type} ${id}`));
        }
      }, this.opts.requestTimeoutMs ?? 20_000);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ ...frame, id } as ClientFrame);
    });
  }

  private send(frame: ClientFrame): void {
    this.ws?.send(JSON.stringify(frame));
  }

  private id(): string {
    return `c${++this.nextId}`;
  }

  private message(ws: WebSocketLike, data: unknown): void {
    if (this.ws !== ws) {
      return;
    }
    let msg: ServerMessage;
    try {
      msg = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer)) as ServerMessage;
    } catch (e) {
      this.emit("error", { error: asError(e, "a message that is not JSON") });
      return;
    }
    for (const frame of Array.isArray(msg) ? msg : [msg]) {
      this.emit("frame", frame);
      if (this.ws !== ws) {
        return; // a listener closed the client
      }
      this.handle(frame);
    }
  }

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case "ack": {
        const p = frame.id === undefined ? undefined : this.take(frame.id);
        p?.resolve();
        return;
      }
      case "error": {
        const err = new RealtimeError(frame.code, frame.message, frame);
        const p = frame.id === undefined ? undefined : this.take(frame.id);
        if (p) {
          p.reject(err);
          return;
        }
        const sub = frame.channel === undefined ? undefined : this.subs.get(frame.channel);
        if (sub) {
          this.subs.delete(sub.channel); // the node ended it (the order changed hands)
        }
        this.emit("error", { error: err, frame });
        return;
      }
      case "pong":
        this.pongs.shift()?.resolve();
        return;
    }
    if (!("channel" in frame)) {
      return;
    }
    const sub = this.subs.get(frame.channel);
    if (!sub) {
      return;
    }
    if (frame.type === "event" && frame.channel.startsWith("order:")) {
      const floor = sub.last ?? sub.since;
      if (floor !== undefined && frame.seq <= floor) {
        return; // a repeat: delivered already
      }
      sub.last = frame.seq;
    }
    for (const h of [...sub.handlers]) {
      h(frame);
    }
  }

  private take(id: string): Pending | undefined {
    const p = this.pending.get(id);
    if (p) {
      this.pending.delete(id);
      this.timers.clearTimeout(p.timer);
    }
    return p;
  }

  /** Rejects every waiting request; subscriptions stay, to be sent again. */
  private failWaiting(err: RealtimeError): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      this.timers.clearTimeout(p.timer);
      if (!p.sub) {
        p.reject(err);
      }
    }
    for (const p of this.pongs) {
      p.reject(err);
    }
    this.pongs = [];
  }

  /** Rejects the `ready` of every subscription the node has not acked yet: the client stopped. */
  private failSubscriptions(err: RealtimeError): void {
    for (const sub of this.subs.values()) {
      if (!sub.settle.done) {
        sub.settle.done = true;
        sub.settle.reject(err);
      }
    }
  }

  private emit<K extends keyof RealtimeEvents>(type: K, ev: RealtimeEvents[K]): void {
    for (const l of [...this.listeners[type]]) {
      try {
        l(ev);
      } catch (e) {
        if (type !== "error") {
          this.emit("error", { error: asError(e, `a ${type} listener threw`) });
        }
      }
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Sent<T extends ClientFrame["type"]> = Extract<ClientFrame, { type: T }>;

/** The WebSocket URL of a node's base URL, with the token (and batch) as query parameters. */
export function wsURL(base: string, token: string, batch: boolean): string {
  const u = new URL(base);
  u.protocol = u.protocol === "https:" || u.protocol === "wss:" ? "wss:" : "ws:";
  const path = u.pathname.replace(/\/+$/, "");
  u.pathname = path.endsWith("/v1/ws") ? path : `${path}/v1/ws`;
  u.searchParams.set("access_token", token);
  if (batch) {
    u.searchParams.set("batch", "1");
  }
  return u.toString();
}

function detach(ws: WebSocketLike): void {
  ws.onopen = ws.onmessage = ws.onclose = null;
  ws.onerror = () => {};
}

function asError(e: unknown, fallback: string): Error {
  return e instanceof Error ? e : new Error(typeof e === "string" ? e : fallback);
}
