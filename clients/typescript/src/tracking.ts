/**
 * A tracking link, live: what the page at /track/<token> shows whoever
 * waits for a delivery. The node streams the order as its tracking link
 * shows it (the `Tracking` schema, nothing of the customer) as
 * Server-Sent Events at GET /v1/track/{token}/events: at once, then after
 * every change of the order and, while the driver holds it, as he moves;
 * `end` once the order ended. No login: the token is the permission.
 */
import type { components } from "./schema.js";

/** An order as its tracking link shows it. */
export type Tracking = components["schemas"]["Tracking"];

/** The part of the browser's EventSource a tracking watch uses (Node.js 20 has none: pass one). */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: any) => any) | null;
  onerror: ((ev: any) => any) | null;
  addEventListener(type: string, listener: (ev: { data: string }) => void): void;
  close(): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;

export interface TrackingHandlers {
  /** The order as it stands now: first at once, then after every change. */
  update(t: Tracking): void;
  /** The order ended: the last update came before, and the stream is closed. */
  end?(): void;
  /** The stream dropped ("reconnecting": the browser retries by itself) or came back ("live"). */
  state?(s: "live" | "reconnecting"): void;
}

/** The URL of a tracking link's event stream on the node at baseUrl. */
export function trackingEventsURL(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/v1/track/${encodeURIComponent(token)}/events`;
}

/**
 * Follows a tracking link live; close() stops. A token that is not (or no
 * longer) a link the node honours makes the stream fail: state
 * "reconnecting" without an update, as a dropped network does — ask GET
 * /v1/track/{token} to tell them apart.
 */
export function watchTracking(
  baseUrl: string,
  token: string,
  h: TrackingHandlers,
  EventSourceImpl: EventSourceConstructor = (globalThis as { EventSource?: EventSourceConstructor }).EventSource as EventSourceConstructor,
): { close(): void } {
  if (!EventSourceImpl) {
    throw new Error("watchTracking: no EventSource here; pass one");
  }
  const es = new EventSourceImpl(trackingEventsURL(baseUrl, token));
  es.onopen = () => h.state?.("live");
  es.onerror = () => h.state?.("reconnecting");
  es.addEventListener("tracking", (ev) => h.update(JSON.parse(ev.data) as Tracking));
  es.addEventListener("end", () => {
    es.close();
    h.end?.();
  });
  return { close: () => es.close() };
}
