// What the tests against a real node share: its address and admin login
// from the environment (e2e/sdk sets them; a missing one fails loudly),
// accounts made fresh for each test, a TCP proxy that can drop and refuse
// connections, and polling with a deadline.
import { randomUUID } from "node:crypto";
import { createServer, connect, type Server, type Socket } from "node:net";
import { createClient, ok, type OutriderClient, type User, type WebSocketConstructor } from "../src/index.js";

function env(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: these tests run against a real node (go test ./e2e/sdk/ starts one and sets OUTRIDER_URL, OUTRIDER_ADMIN_EMAIL and OUTRIDER_ADMIN_PASSWORD)`);
  }
  return v;
}

export const nodeURL = (): string => env("OUTRIDER_URL");

/** The standard WebSocket of this Node (20: with --experimental-websocket, which npm test passes). */
export function webSocket(): WebSocketConstructor {
  const WS = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WS) {
    throw new Error("no global WebSocket: run node with --experimental-websocket (Node 20) or Node ≥ 22");
  }
  return WS;
}

/** A password the node takes (≥ 12 characters, mixed, not guessable). */
export const strongPassword = (): string => `Sdk-${randomUUID()}-Qz9!`;
const email = (what: string): string => `sdk-${what}-${randomUUID().slice(0, 8)}@example.test`;

export async function adminClient(): Promise<OutriderClient> {
  const c = createClient({ baseUrl: nodeURL() });
  await c.login(env("OUTRIDER_ADMIN_EMAIL"), env("OUTRIDER_ADMIN_PASSWORD"));
  return c;
}

/** A new customer, signed up through the SDK. */
export async function newCustomer(password: string = strongPassword()): Promise<OutriderClient> {
  const c = createClient({ baseUrl: nodeURL() });
  await c.signup({ name: "SDK Customer", email: email("customer"), password });
  return c;
}

/** A new driver made by admin, logged in and available. */
export async function newDriver(admin: OutriderClient): Promise<{ client: OutriderClient; user: User }> {
  const password = strongPassword();
  const user = await ok(admin.POST("/v1/users", { body: { name: "SDK Driver", email: email("driver"), password, role: "driver" } }));
  const client = createClient({ baseUrl: nodeURL() });
  await client.login(user.email, password);
  const me = await ok(client.PUT("/v1/drivers/me/availability", { body: { available: true } }));
  if (me.status !== "available") {
    throw new Error(`driver ${user.id} is ${me.status} after asking to be available`);
  }
  return { client, user };
}

/**
 * Polls cond every 20 ms until it returns a value other than undefined or
 * false; fails after ms (generous: make test runs every package at once
 * on two cores).
 */
export async function eventually<T>(what: string, cond: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v !== undefined && v !== false) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with p, or rejects after ms saying what was awaited. */
export function within<T>(what: string, p: Promise<T>, ms = 20_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A TCP proxy on a free loopback port in front of the node: `drop()`
 * cuts every connection at once (the client sees the socket die, no
 * close frame), and while `refusing` it answers each new connection
 * 503, as a load balancer with no node behind it does. `accepted` holds
 * when each connection came.
 */
export class Proxy {
  refusing = false;
  readonly accepted: number[] = [];
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private port = 0;

  constructor(private readonly target: URL) {}

  async start(): Promise<this> {
    const server = createServer((client) => {
      this.accepted.push(performance.now());
      if (this.refusing) {
        client.on("error", () => client.destroy());
        client.once("data", () => client.end("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
        return;
      }
      const upstream = connect(Number(this.target.port), this.target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    const addr = server.address();
    if (!addr || typeof addr === "string") {
      throw new Error("the proxy has no port");
    }
    this.port = addr.port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Cuts every open connection. */
  drop(): void {
    for (const s of this.sockets) {
      s.resetAndDestroy();
    }
  }

  async stop(): Promise<void> {
    this.drop();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
