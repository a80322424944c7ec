/**
 * @outrider/client — the HTTP API of an Outrider node through openapi-fetch,
 * typed by `paths` generated from the node's OpenAPI document
 * (src/schema.ts, `npm run generate`), and the realtime WebSocket client
 * (./realtime.ts).
 *
 * Start with {@link createClient}: it returns the openapi-fetch client
 * itself (`client.GET("/v1/orders/{id}", …)`, every path and body typed)
 * with a bearer-token middleware and a few session helpers (login, signup,
 * refresh, logout, a realtime client bound to the same tokens). Nothing
 * here describes a body by hand: every type comes from the document.
 */
import createFetchClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";
import { RealtimeClient, type RealtimeOptions } from "./realtime.js";

export type { components, paths } from "./schema.js";
export * from "./realtime.js";
export * from "./tracking.js";

/** Every schema of the OpenAPI document, by name. */
export type Schemas = components["schemas"];
export type Tokens = Schemas["Tokens"];
export type User = Schemas["User"];
export type Order = Schemas["Order"];
export type Problem = Schemas["Problem"];
export type Notification = Schemas["Notification"];
export type TimelineEntry = Schemas["TimelineEntry"];

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** The node's base URL, e.g. `http://localhost:8080` (no `/v1`). */
  baseUrl: string;
  /** An access token to send from the start (`Authorization: Bearer`). */
  token?: string;
  /** A refresh token to renew the access token with. */
  refreshToken?: string;
  /**
   * On a 401 answer to a request that carried a token, refresh the tokens
   * once (POST /v1/auth/refresh) and send the request again. Default true;
   * it needs a refresh token (from `login`, `signup` or `refreshToken`).
   */
  refreshOn401?: boolean;
  /** Called whenever the client's tokens change (login, refresh, logout). */
  onTokens?: (tokens: Tokens | null) => void;
  /** fetch to use (default globalThis.fetch). */
  fetch?: (input: Request) => Promise<Response>;
}

/** The session helpers {@link createClient} adds to the openapi-fetch client. */
export interface Session {
  /** The base URL requests go to. */
  readonly baseUrl: string;
  /** The access token sent now, if any. */
  accessToken(): string | undefined;
  /** The user the last login, signup or refresh answered with. */
  user(): User | undefined;
  /** Replaces the tokens (null forgets them). */
  setTokens(tokens: { access_token: string; refresh_token?: string } | null): void;
  /** POST /v1/auth/login; the answer's tokens are used from then on. */
  login(email: string, password: string): Promise<Tokens>;
  /** POST /v1/auth/signup (a customer); the answer's tokens are used from then on. */
  signup(body: Schemas["SignupRequest"]): Promise<Tokens>;
  /** POST /v1/auth/refresh with the refresh token; one refresh at a time. */
  refresh(): Promise<Tokens>;
  /** POST /v1/auth/logout (every session of the user ends), then forgets the tokens. */
  logout(): Promise<void>;
  /**
   * An access token good for at least `marginSeconds` more (default 30),
   * refreshed first when the current one expires sooner and a refresh
   * token is known. The realtime client calls it on every connect.
   */
  freshToken(marginSeconds?: number): Promise<string>;
  /**
   * A realtime client on this node that connects with {@link freshToken},
   * and with a refreshed token after the node closed the socket with 4001
   * (expired or revoked); a refused refresh stops it.
   */
  realtime(options?: Omit<RealtimeOptions, "url" | "token">): RealtimeClient;
}

/** The openapi-fetch client with Outrider's session helpers. */
export type OutriderClient = Client<paths> & Session;

/**
 * An API answer that was not 2xx: the problem+json body when there is one
 * (its stable `code`), else the status alone.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: Problem["code"] | undefined;
  readonly problem: Problem | undefined;
  constructor(response: Response, body: unknown) {
    const problem = isProblem(body) ? body : undefined;
    super(`${response.status} ${problem?.code ?? response.statusText}${problem?.detail ? ": " + problem.detail : ""}`);
    this.name = "ApiError";
    this.status = response.status;
    this.problem = problem;
    this.code = problem?.code;
  }
}

function isProblem(body: unknown): body is Problem {
  return typeof body === "object" && body !== null && "code" in body && "status" in body;
}

type Answer = { data?: unknown; error?: unknown; response: Response };
/** The success body of an openapi-fetch answer; void for an answer without one (204). */
export type Data<R extends Answer> = [Exclude<R["data"], undefined>] extends [never] ? void : Exclude<R["data"], undefined>;

/**
 * Awaits an openapi-fetch call and returns its success body, or throws an
 * {@link ApiError} with the problem+json of any other answer.
 *
 *     const order = await ok(client.POST("/v1/orders", { body }));
 */
export async function ok<R extends Answer>(call: Promise<R>): Promise<Data<R>> {
  const r = await call;
  if (!r.response.ok) {
    throw new ApiError(r.response, r.error);
  }
  return r.data as Data<R>;
}

/** Creates a client of the node at options.baseUrl. */
export function createClient(options: ClientOptions): OutriderClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const doFetch = options.fetch ?? ((r: Request) => globalThis.fetch(r));
  const api = createFetchClient<paths>({ baseUrl, fetch: doFetch });
  let access = options.token;
  let refreshToken = options.refreshToken;
  let who: User | undefined;
  let refreshing: Promise<Tokens> | undefined;

  const use = (t: Tokens): Tokens => {
    access = t.access_token;
    refreshToken = t.refresh_token;
    who = t.user;
    options.onTokens?.(t);
    return t;
  };

  const refresh = (): Promise<Tokens> => {
    if (!refreshing) {
      const token = refreshToken;
      refreshing = (async () => {
        if (!token) {
          throw new Error("no refresh token: log in first");
        }
        return use(await ok(api.POST("/v1/auth/refresh", { body: { refresh_token: token } })));
      })().finally(() => {
        refreshing = undefined;
      });
    }
    return refreshing;
  };

  // Bearer auth, and one refresh and retry on a 401 to a request that
  // carried a token (auth routes excepted: their 401 is the answer).
  const copies = new Map<string, Request>();
  const auth: Middleware = {
    onRequest({ request, schemaPath, id }) {
      if (access && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Bearer ${access}`);
        if (options.refreshOn401 !== false && !schemaPath.startsWith("/v1/auth/")) {
          copies.set(id, request.clone());
        }
      }
      return request;
    },
    async onResponse({ response, id }) {
      const copy = copies.get(id);
      copies.delete(id);
      if (response.status !== 401 || !copy || !refreshToken) {
        return undefined;
      }
      const sent = copy.headers.get("Authorization");
      if (sent === `Bearer ${access}`) {
        try {
          await refresh(); // nobody refreshed since it was sent
        } catch {
          return undefined; // refused too: the caller gets the first 401
        }
      }
      copy.headers.set("Authorization", `Bearer ${access}`);
      return doFetch(copy);
    },
    onError({ id }) {
      copies.delete(id);
      return undefined;
    },
  };
  api.use(auth);

  const session: Session = {
    baseUrl,
    accessToken: () => access,
    user: () => who,
    setTokens(t) {
      access = t?.access_token;
      refreshToken = t?.refresh_token ?? (t ? refreshToken : undefined);
      if (!t) {
        who = undefined;
        options.onTokens?.(null);
      }
    },
    async login(email, password) {
      return use(await ok(api.POST("/v1/auth/login", { body: { email, password } })));
    },
    async signup(body) {
      return use(await ok(api.POST("/v1/auth/signup", { body })));
    },
    refresh,
    async logout() {
      if (refreshToken) {
        await ok(api.POST("/v1/auth/logout", { body: { refresh_token: refreshToken } }));
      }
      session.setTokens(null);
    },
    async freshToken(marginSeconds = 30) {
      if (access && secondsLeft(access) > marginSeconds) {
        return access;
      }
      if (refreshToken) {
        return (await refresh()).access_token;
      }
      if (access) {
        return access; // nothing to renew it with; the node will say
      }
      throw new Error("no access token: log in first");
    },
    realtime(rt = {}) {
      return new RealtimeClient({
        ...rt,
        url: baseUrl,
        token: async ({ refused }) => (refused && refreshToken ? (await refresh()).access_token : session.freshToken()),
      });
    },
  };
  return { ...api, ...session };
}

/**
 * Seconds until the JWT's `exp`, read without verifying it (the node
 * verifies); Infinity when it has none or cannot be read.
 */
export function secondsLeft(jwt: string, nowMs: number = Date.now()): number {
  const part = jwt.split(".")[1];
  if (!part) {
    return Infinity;
  }
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const claims: unknown = JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
    if (typeof claims === "object" && claims !== null && "exp" in claims && typeof claims.exp === "number") {
      return claims.exp - nowMs / 1000;
    }
  } catch {
    // not a JWT we can read: let the node decide
  }
  return Infinity;
}
