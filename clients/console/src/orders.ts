/** The board's pure logic: statuses, grouping, search. */
import type { Order } from "@outrider/client";

export type Status = Order["status"];

/** Every status, in the order an order moves through them. */
export const statuses: readonly Status[] = [
  "pending",
  "assigned",
  "accepted",
  "picked_up",
  "in_transit",
  "delivered",
  "cancelled",
  "failed",
];

/** The statuses a dispatcher works on; the board shows them unless asked otherwise. */
export const active: readonly Status[] = ["pending", "assigned", "accepted", "picked_up", "in_transit"];

export function label(s: Status): string {
  const l = s.replace("_", " ");
  return l.charAt(0).toUpperCase() + l.slice(1);
}

/** Whether the order matches the search text (id, addresses, notes, customer or driver id), case-insensitive. */
export function matches(o: Order, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) {
    return true;
  }
  return [o.id, o.pickup.address, o.dropoff.address, o.notes, o.customer_id, o.driver_id ?? "", o.delivery_option]
    .some((field) => field.toLowerCase().includes(q));
}

/** The orders of each shown status, newest first. */
export function group(orders: Iterable<Order>, shown: readonly Status[], query: string): Map<Status, Order[]> {
  const out = new Map<Status, Order[]>(shown.map((s) => [s, []]));
  for (const o of orders) {
    if (matches(o, query)) {
      out.get(o.status)?.push(o);
    }
  }
  for (const list of out.values()) {
    list.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.id < b.id ? 1 : -1));
  }
  return out;
}

/** The newer of two copies of an order (by version: a late page never undoes a live event). */
export function newer(known: Order | undefined, incoming: Order): Order {
  return known && known.version > incoming.version ? known : incoming;
}
