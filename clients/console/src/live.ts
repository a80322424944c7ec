/** Helpers for the frames the console's views follow. */
import type { ChannelFrame, OrderEventFrame } from "@outrider/client";

/** An order event (on the orders channel or an order's own). */
export function isOrderEvent(f: ChannelFrame): f is OrderEventFrame {
  return f.type === "event" && typeof f.data === "object" && f.data !== null && "order" in f.data;
}
