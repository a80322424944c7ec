import { useCallback, useEffect, useRef, useState } from "react";
import { ok, type Order, type RealtimeClient, type Schemas, type TimelineEntry } from "@outrider/client";
import { ErrorLine } from "./ui";
import { api, describe } from "./session";
import { createMap, L, mapConfig } from "./map";
import { href, Link } from "./router";
import { label } from "./orders";
import { isOrderEvent } from "./live";
import { AssignPanel } from "./AssignPanel";
import { OrderActions } from "./OrderActions";

type Proof = Schemas["Proof"];
type Dispatch = Schemas["Dispatch"];
type Point = { lat: number; lng: number; at: string };

/** How many trail points the map keeps (the API answers at most this many too). */
const maxTrail = 5000;

/**
 * One order: what it is, its timeline, its proofs (thumbnails, each
 * linking to the full photo), its driver's trail on a map and the
 * dispatch engine's decisions. Live on the order's own channel: each event
 * updates the order and reads the timeline again (and the proofs or the
 * dispatch record when the event touched them); the driver's positions
 * come on the same channel while he holds the order and extend the trail.
 */
export function OrderPage({ rt, id }: { rt: RealtimeClient; id: string }) {
  const [order, setOrder] = useState<Order | undefined>();
  const [timeline, setTimeline] = useState<TimelineEntry[]>([]);
  const [proofs, setProofs] = useState<Proof[]>([]);
  const [dispatch, setDispatch] = useState<Dispatch | undefined>();
  const [trail, setTrail] = useState<Point[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [assigning, setAssigning] = useState(false);

  const readTimeline = useCallback(async () => setTimeline((await ok(api.GET("/v1/orders/{id}/timeline", { params: { path: { id } } }))).items), [id]);
  const readProofs = useCallback(async () => setProofs((await ok(api.GET("/v1/orders/{id}/proofs", { params: { path: { id } } }))).items), [id]);
  const readDispatch = useCallback(async () => setDispatch(await ok(api.GET("/v1/orders/{id}/dispatch", { params: { path: { id } } }))), [id]);

  const keep = useCallback((o: Order) => setOrder((known) => (known && known.version > o.version ? known : o)), []);

  useEffect(() => {
    let cancelled = false;
    const cleanups: (() => void)[] = [];
    const guard = (p: Promise<unknown>) => p.catch((e: unknown) => !cancelled && setError(describe(e)));
    setOrder(undefined);
    setTrail([]);
    setError(undefined);
    // The channel first (from the version read, so nothing falls between),
    // then everything else.
    void (async () => {
      try {
        const o = await ok(api.GET("/v1/orders/{id}", { params: { path: { id } } }));
        if (cancelled) {
          return;
        }
        keep(o);
        const sub = rt.subscribeOrder(
          id,
          (f) => {
            if (f.type === "location") {
              setTrail((t) => (t.length > 0 && t[t.length - 1]!.at >= f.ts ? t : [...t.slice(-maxTrail + 1), { lat: f.lat, lng: f.lng, at: f.ts }]));
            } else if (isOrderEvent(f)) {
              keep(f.data.order);
              void guard(readTimeline());
              if (f.event === "order.proof_added") {
                void guard(readProofs());
              }
              if (f.event.startsWith("order.dispatch") || f.event === "order.assigned" || f.event === "order.declined" || f.event === "order.offer_expired" || f.event === "order.accepted") {
                void guard(readDispatch());
              }
            }
          },
          { since: o.version },
        );
        cleanups.push(() => void sub.unsubscribe().catch(() => {}));
        sub.ready.catch((e: unknown) => !cancelled && setError(`This page is not live: ${describe(e)}`));
        await Promise.all([
          readTimeline(),
          readProofs(),
          readDispatch(),
          ok(api.GET("/v1/orders/{id}/track", { params: { path: { id } } })).then((t) =>
            setTrail((live) => {
              const old = t.items.map((p) => ({ lat: p.lat, lng: p.lng, at: p.at }));
              const last = old[old.length - 1]?.at ?? "";
              return [...old, ...live.filter((p) => p.at > last)];
            }),
          ),
        ]);
      } catch (e) {
        if (!cancelled) {
          setError(describe(e));
        }
      }
    })();
    return () => {
      cancelled = true;
      cleanups.forEach((c) => c());
    };
  }, [rt, id, keep, readTimeline, readProofs, readDispatch]);

  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [id]);

  return (
    <main className="page">
      <p>
        <Link to={href({ view: "board" })}>← Board</Link>
      </p>
      <h2 ref={heading} tabIndex={-1}>
        Order <code>{id}</code>
      </h2>
      <ErrorLine error={error} />
      {order && (
        <>
          <section className="summary" aria-label="Summary">
            <p className="route">
              {order.pickup.address} → {order.dropoff.address}
            </p>
            <dl>
              <dt>Status</dt>
              <dd data-testid="order-status">{label(order.status)}</dd>
              <dt>Driver</dt>
              <dd>{order.driver_id ? <code>{order.driver_id}</code> : "none"}</dd>
              <dt>Customer</dt>
              <dd>
                <code>{order.customer_id}</code>
              </dd>
              <dt>Option</dt>
              <dd>{order.delivery_option}</dd>
              <dt>Payment</dt>
              <dd>{order.payment_status}</dd>
              <dt>Created</dt>
              <dd>{new Date(order.created_at).toLocaleString()}</dd>
              {order.notes && (
                <>
                  <dt>Notes</dt>
                  <dd>{order.notes}</dd>
                </>
              )}
            </dl>
            <OrderActions order={order} onChanged={keep} onAssign={() => setAssigning(true)} />
          </section>
          {assigning && (
            <AssignPanel
              rt={rt}
              order={order}
              onAssigned={(o) => {
                keep(o);
                setAssigning(false);
              }}
              onClose={() => setAssigning(false)}
            />
          )}
          <div className="order-grid">
            <section aria-labelledby="timeline-title">
              <h3 id="timeline-title">Timeline</h3>
              <ol className="timeline" data-testid="timeline">
                {timeline.map((e) => (
                  <li key={e.seq} data-seq={e.seq} data-event={(e.metadata as { event?: string }).event ?? "order.status_changed"} data-status={e.status}>
                    <strong>{describeEvent(e)}</strong>
                    <br />
                    <small className="muted">
                      #{e.seq} · {label(e.status)} · {new Date(e.at).toLocaleString()} · by {e.by.role}
                      {e.by.user_id ? ` ${e.by.user_id.slice(-8)}` : ""}
                    </small>
                  </li>
                ))}
              </ol>
            </section>
            <section aria-labelledby="trail-title">
              <h3 id="trail-title">Driver's trail</h3>
              <Trail order={order} trail={trail} />
              <p className="muted" data-testid="trail-count">
                {trail.length} {trail.length === 1 ? "position" : "positions"}
              </p>
            </section>
            <section aria-labelledby="proofs-title">
              <h3 id="proofs-title">Proofs</h3>
              {proofs.length === 0 ? (
                <p className="muted">None yet.</p>
              ) : (
                <ul className="proofs">
                  {proofs.map((p) => (
                    <li key={p.key}>
                      <a href={p.url} target="_blank" rel="noreferrer">
                        <img src={p.thumbnail_url ?? p.url} alt={`Proof #${p.seq}`} width={120} />
                      </a>
                      <small className="muted">
                        {new Date(p.created_at).toLocaleTimeString()} · {p.size < 1024 ? `${p.size} B` : `${Math.round(p.size / 1024)} KB`}
                      </small>
                    </li>
                  ))}
                </ul>
              )}
            </section>
            <section aria-labelledby="dispatch-title">
              <h3 id="dispatch-title">Dispatch decisions</h3>
              <DispatchView dispatch={dispatch} />
            </section>
          </div>
        </>
      )}
    </main>
  );
}

/** One line for a timeline entry: what happened (a status change says the status), with whom and why. */
function describeEvent(e: TimelineEntry): string {
  const m = e.metadata as { event?: string; driver_id?: string; reason?: string };
  const event = m.event ?? "order.status_changed";
  const what = event === "order.status_changed" ? label(e.status) : event.replace(/^order\./, "").replace(/_/g, " ");
  const extra = [m.driver_id && `driver ${m.driver_id.slice(-8)}`, m.reason && `“${m.reason}”`].filter(Boolean).join(", ");
  return `${what[0]?.toUpperCase() ?? ""}${what.slice(1)}${extra ? ` (${extra})` : ""}`;
}

function DispatchView({ dispatch: d }: { dispatch: Dispatch | undefined }) {
  if (!d) {
    return <p className="muted">Loading…</p>;
  }
  if (d.mode === "manual" && d.attempts.length === 0) {
    return <p className="muted">Assigned by hand; the engine made no offer.</p>;
  }
  return (
    <>
      <p data-testid="dispatch-state">
        {d.mode} · {d.state}
        {d.run > 0 && ` · run ${d.run}, ${d.attempts_in_run}/${d.max_attempts} offers`}
        {d.escalation_reason && ` · escalated (${d.escalation_reason.replace("_", " ")})`}
        {d.stopped_reason && ` · stopped: ${d.stopped_reason}`}
      </p>
      <table className="drivers">
        <thead>
          <tr>
            <th scope="col">Offered to</th>
            <th scope="col">Distance</th>
            <th scope="col">Outcome</th>
            <th scope="col">Ranked among</th>
          </tr>
        </thead>
        <tbody>
          {d.attempts.map((a) => (
            <tr key={a.offer_id}>
              <td>
                <code>{a.driver_id.slice(-8)}</code>
                <br />
                <small className="muted">
                  run {a.run} · {new Date(a.offered_at).toLocaleTimeString()}
                </small>
              </td>
              <td>{Math.round(a.distance_m)} m</td>
              <td>{a.outcome}</td>
              <td>
                {a.candidates.length} of {a.considered} within {Math.round(a.radius_m / 1000)} km:{" "}
                {a.candidates
                  .slice(0, 3)
                  .map((c) => `${c.driver_id.slice(-6)} ${Math.round(c.distance_m)} m`)
                  .join(", ")}
                {a.candidates.length > 3 && "…"}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** The order's places and its driver's trail, the newest position as a marker. */
function Trail({ order, trail }: { order: Order; trail: Point[] }) {
  const el = useRef<HTMLDivElement>(null);
  const layers = useRef<{ map: L.Map; line: L.Polyline; head: L.CircleMarker; fitted: boolean } | undefined>(undefined);
  const [ready, setReady] = useState(false);

  useEffect(() => {
    const container = el.current;
    let cancelled = false;
    void mapConfig().then((cfg) => {
      if (cancelled || !container) {
        return;
      }
      const map = createMap(container, cfg);
      const places: L.LatLngExpression[] = [];
      for (const [p, name, colour] of [
        [order.pickup, "Pickup", "#f5a623"],
        [order.dropoff, "Dropoff", "#a4161a"],
      ] as const) {
        if (p.lat !== undefined && p.lng !== undefined) {
          places.push([p.lat, p.lng]);
          L.circleMarker([p.lat, p.lng], { radius: 7, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1 }).bindTooltip(`${name}: ${p.address}`).addTo(map);
        }
      }
      const line = L.polyline([], { color: "#1f4e79", weight: 3 }).addTo(map);
      const head = L.circleMarker([0, 0], { radius: 7, color: "#fff", weight: 2, fillColor: "#1f4e79", fillOpacity: 1, className: "trail-head" });
      if (places.length > 0) {
        map.fitBounds(L.latLngBounds(places).pad(0.3), { maxZoom: 16 });
      }
      layers.current = { map, line, head, fitted: false };
      setReady(true);
    });
    return () => {
      cancelled = true;
      layers.current?.map.remove();
      layers.current = undefined;
      setReady(false);
    };
    // the map is made once per order; the trail effect below draws on it
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [order.id]);

  useEffect(() => {
    const l = layers.current;
    if (!l) {
      return;
    }
    l.line.setLatLngs(trail.map((p) => [p.lat, p.lng]));
    const last = trail[trail.length - 1];
    if (last) {
      l.head.setLatLng([last.lat, last.lng]);
      if (!l.map.hasLayer(l.head)) {
        l.head.addTo(l.map);
      }
      if (!l.fitted) {
        l.fitted = true;
        l.map.fitBounds(l.line.getBounds().extend(l.map.getBounds()), { maxZoom: 16 });
      }
    }
  }, [trail, ready]);

  return <div className="trail-map" ref={el} role="img" aria-label={`Map of the order's places and its driver's trail (${trail.length} positions)`} />;
}
