import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ok, type Order, type RealtimeClient } from "@outrider/client";
import { ErrorLine } from "./ui";
import { api, describe } from "./session";
import { active, group, label, newer, statuses, type Status } from "./orders";
import { AssignPanel } from "./AssignPanel";
import { OrderActions } from "./OrderActions";
import { isOrderEvent } from "./live";
import { href, Link } from "./router";

/**
 * The order board: orders by status, loaded page by page from GET
 * /v1/orders and kept live over the console's one WebSocket.
 *
 * Live: the admins' `orders` channel carries every order's events, so a
 * new order appears and every card moves from that one subscription. It
 * is subscribed before the list is read, and each order is kept at its
 * newest version, so nothing falls between the two. The channel is live
 * only (no replay): after a reconnect the list is read again. Never on a
 * timer. (The console is served by the node it talks to, so the node
 * always has the channel.)
 */

type Filter = "active" | "all" | Status;

const pageSize = 100;
/** How many orders that left the board it remembers (by version), the oldest forgotten first. */
const maxGone = 10_000;

/** The orders channel: asked for, answered (acked or refused). */
type Live = "subscribing" | "live" | "refused";

function shownStatuses(f: Filter): readonly Status[] {
  return f === "active" ? active : f === "all" ? statuses : [f];
}

export function Board({ rt }: { rt: RealtimeClient }) {
  const [filter, setFilter] = useState<Filter>("active");
  const [query, setQuery] = useState("");
  const [orders, setOrders] = useState<ReadonlyMap<string, Order>>(new Map());
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [selected, setSelected] = useState<string | undefined>();
  // Where the keyboard was when the assign panel opened: it goes back there when the panel closes.
  const opener = useRef<HTMLElement | null>(null);
  const open = (id: string) => {
    opener.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    setSelected(id);
  };
  const close = () => {
    setSelected(undefined);
    const back = opener.current;
    opener.current = null;
    window.setTimeout(() => (back?.isConnected ? back.focus() : document.getElementById("search")?.focus()), 0);
  };

  // The board holds the orders of the statuses it shows: one that moves
  // to another status leaves it (so a console open all day does not keep
  // every order the channel ever told of), remembered by version so that
  // an older copy (a page read before the move) does not bring it back.
  const shownRef = useRef<readonly Status[]>(shownStatuses(filter));
  const gone = useRef(new Map<string, number>());
  const merge = useCallback((incoming: readonly Order[]) => {
    setOrders((prev) => {
      const next = new Map(prev);
      for (const o of incoming) {
        if ((gone.current.get(o.id) ?? 0) >= o.version) {
          continue;
        }
        if (shownRef.current.includes(o.status)) {
          gone.current.delete(o.id);
          next.set(o.id, newer(prev.get(o.id), o));
        } else if (next.delete(o.id)) {
          gone.current.set(o.id, o.version);
          if (gone.current.size > maxGone) {
            gone.current.delete(gone.current.keys().next().value ?? ""); // the oldest
          }
        }
      }
      return next;
    });
  }, []);

  // One page of the filter's orders; from the start unless cursor is given.
  const load = useCallback(
    async (f: Filter, from?: string) => {
      setLoading(true);
      setError(undefined);
      try {
        const status = f === "all" ? undefined : shownStatuses(f).join(",");
        const page = await ok(
          api.GET("/v1/orders", {
            params: { query: { limit: pageSize, ...(status ? { status } : {}), ...(from ? { cursor: from } : {}) } },
          }),
        );
        merge(page.items);
        setCursor(page.next_cursor ?? null);
      } catch (e) {
        setError(describe(e));
      } finally {
        setLoading(false);
      }
    },
    [merge],
  );

  // The orders channel first, then the list (a change in between comes
  // on the channel and is kept by version).
  const [live, setLive] = useState<Live>("subscribing");
  const [liveError, setLiveError] = useState<string | undefined>();
  useEffect(() => {
    let mounted = true;
    const sub = rt.subscribe("orders", (f) => {
      if (isOrderEvent(f)) {
        merge([f.data.order]);
      }
    });
    sub.ready.then(
      () => mounted && setLive("live"),
      (e: unknown) => {
        if (mounted) {
          setLive("refused");
          setLiveError(`The board is not live: ${describe(e)}`);
        }
      },
    );
    return () => {
      mounted = false;
      void sub.unsubscribe().catch(() => {});
    };
  }, [rt, merge]);

  const subscribing = live === "subscribing";
  useEffect(() => {
    if (subscribing) {
      return;
    }
    shownRef.current = shownStatuses(filter);
    gone.current.clear();
    setOrders(new Map());
    setCursor(null);
    void load(filter);
  }, [filter, load, subscribing]);

  // A reconnect may have missed events: read the list again.
  useEffect(
    () =>
      rt.on("open", ({ retries }) => {
        if (retries > 0) {
          void load(filter);
        }
      }),
    [rt, filter, load],
  );

  const shown = shownStatuses(filter);
  const columns = useMemo(() => group(orders.values(), shown, query), [orders, shown, query]);
  const order = selected ? orders.get(selected) : undefined;

  return (
    <main className="board">
      <form className="toolbar" role="search" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor="status-filter">Status</label>
        <select id="status-filter" value={filter} onChange={(e) => setFilter(e.target.value as Filter)}>
          <option value="active">Active (pending → in transit)</option>
          <option value="all">All</option>
          {statuses.map((s) => (
            <option key={s} value={s}>
              {label(s)}
            </option>
          ))}
        </select>
        <label htmlFor="search">Search</label>
        <input
          id="search"
          type="search"
          placeholder="id, address, notes, customer or driver"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        <button type="button" onClick={() => void load(filter)} disabled={loading}>
          Refresh
        </button>
        <span className="muted" aria-live="polite">
          {loading ? "Loading…" : `${orders.size} ${orders.size === 1 ? "order" : "orders"} loaded`}
        </span>
      </form>
      <ErrorLine error={error} />
      <ErrorLine error={liveError} />
      {order && (
        <AssignPanel
          rt={rt}
          order={order}
          onAssigned={(o) => {
            merge([o]);
            close();
          }}
          onClose={close}
        />
      )}
      <div className="columns">
        {shown.map((s) => {
          const list = columns.get(s) ?? [];
          return (
            <section key={s} className="column" aria-labelledby={`col-${s}`} data-status={s}>
              <h2 id={`col-${s}`}>
                {label(s)} <span className="count">{list.length}</span>
              </h2>
              <ul>
                {list.map((o) => (
                  <li key={o.id}>
                    <Card order={o} selected={o.id === selected} onAssign={() => open(o.id)} onChanged={(c) => merge([c])} />
                  </li>
                ))}
              </ul>
            </section>
          );
        })}
      </div>
      {cursor && (
        <p>
          <button type="button" onClick={() => void load(filter, cursor)} disabled={loading}>
            Load more
          </button>
        </p>
      )}
    </main>
  );
}

function Card({ order: o, selected, onAssign, onChanged }: { order: Order; selected: boolean; onAssign: () => void; onChanged: (o: Order) => void }) {
  return (
    <article className={selected ? "card selected" : "card"} data-order-id={o.id} aria-label={`Order ${o.id}`}>
      <p className="route">
        <Link to={href({ view: "order", id: o.id })}>
          <span>{o.pickup.address}</span>
          <span aria-hidden="true"> → </span>
          <span className="sr-only"> to </span>
          <span>{o.dropoff.address}</span>
        </Link>
      </p>
      <p className="meta">
        <code title={o.id}>{o.id.slice(-8)}</code> · {o.delivery_option} · {new Date(o.created_at).toLocaleTimeString()}
      </p>
      {o.driver_id && (
        <p className="meta">
          driver <code title={o.driver_id}>{o.driver_id.slice(-8)}</code>
          {o.status === "assigned" && o.offer_expires_at && (
            <> · offered until {new Date(o.offer_expires_at).toLocaleTimeString()}</>
          )}
        </p>
      )}
      <OrderActions order={o} onChanged={onChanged} onAssign={onAssign} compact />
    </article>
  );
}
