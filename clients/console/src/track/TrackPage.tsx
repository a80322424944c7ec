import { useEffect, useRef, useState } from "react";
import { ApiError, createClient, ok, watchTracking, type Tracking } from "@outrider/client";
import { createMap, L, mapConfig } from "../map";

const steps = ["pending", "assigned", "accepted", "picked_up", "in_transit", "delivered"] as const;

const headline: Record<Tracking["status"], string> = {
  pending: "Order received",
  assigned: "Finding your driver",
  accepted: "Your driver is on the way to pick it up",
  picked_up: "Picked up",
  in_transit: "On the way to you",
  delivered: "Delivered",
  cancelled: "Cancelled",
  failed: "Delivery failed",
};

/**
 * The page a customer's tracking link opens (/track/<token>): where the
 * order stands, the driver on the map and the estimated arrival, live
 * over the node's event stream (no reload, no polling). No login and
 * nothing of the customer: what the node's tracking view holds.
 */
export function TrackPage({ token }: { token: string }) {
  const [t, setT] = useState<Tracking | undefined>();
  const [problem, setProblem] = useState<string | undefined>();
  const [link, setLink] = useState<"connecting" | "live" | "reconnecting" | "ended">("connecting");

  useEffect(() => {
    let watch: { close(): void } | undefined;
    let cancelled = false;
    // The first read tells a bad link from a network fault; then the stream.
    ok(createClient({ baseUrl: window.location.origin }).GET("/v1/track/{token}", { params: { path: { token } } })).then(
      (first) => {
        if (cancelled) {
          return;
        }
        setT(first);
        watch = watchTracking(window.location.origin, token, {
          update: setT,
          end: () => setLink("ended"),
          state: (s) => setLink((l) => (l === "ended" ? l : s)),
        });
      },
      (e: unknown) => {
        if (!cancelled) {
          setProblem(e instanceof ApiError && e.status === 404 ? "This tracking link is not valid, or the delivery ended a while ago." : `The delivery could not be loaded (${e instanceof ApiError ? e.status : String(e)}).`);
        }
      },
    );
    return () => {
      cancelled = true;
      watch?.close();
    };
  }, [token]);

  if (problem) {
    return (
      <main className="track">
        <h1>Your delivery</h1>
        <p className="error" role="alert">
          {problem}
        </p>
      </main>
    );
  }
  if (!t) {
    return (
      <main className="track" aria-busy="true">
        <h1>Your delivery</h1>
        <p>Loading…</p>
      </main>
    );
  }
  const reached = steps.indexOf(t.status as (typeof steps)[number]);
  return (
    <main className="track">
      <h1 data-testid="track-status" data-status={t.status}>
        {headline[t.status]}
      </h1>
      <p className="muted" role="status" aria-live="polite" data-testid="track-link">
        {link === "live" ? "Live" : link === "reconnecting" ? "Reconnecting…" : link === "ended" ? "This delivery has ended." : "Connecting…"}
      </p>
      {t.eta && (
        <p className="eta" data-testid="track-eta">
          Arrives in about <strong>{Math.max(1, Math.round(t.eta.seconds / 60))} min</strong> (around{" "}
          {new Date(t.eta.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}), {(t.eta.distance_m / 1000).toFixed(1)} km away.
        </p>
      )}
      {t.driver && (
        <p data-testid="track-driver">
          Your driver: <strong>{t.driver.name}</strong>
          {t.driver.at && <small className="muted"> · seen {new Date(t.driver.at).toLocaleTimeString()}</small>}
        </p>
      )}
      <TrackMap t={t} />
      <p className="route">
        {t.pickup.address} → {t.dropoff.address}
      </p>
      {reached >= 0 && (
        <ol className="steps" aria-label="Progress">
          {steps.map((s, i) => (
            <li key={s} className={i <= reached ? "done" : ""} aria-current={i === reached ? "step" : undefined}>
              {headline[s]}
            </li>
          ))}
        </ol>
      )}
      <details>
        <summary>History</summary>
        <ul>
          {t.history.map((h) => (
            <li key={`${h.status}-${h.at}`}>
              {headline[h.status]} · {new Date(h.at).toLocaleString()}
            </li>
          ))}
        </ul>
      </details>
    </main>
  );
}

/** The dropoff, the pickup until picked up, and the driver while he holds the order. */
function TrackMap({ t }: { t: Tracking }) {
  const el = useRef<HTMLDivElement>(null);
  const layers = useRef<{ map: L.Map; driver: L.CircleMarker; fitted: boolean } | undefined>(undefined);
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let cancelled = false;
    void mapConfig().then((cfg) => {
      const box = el.current;
      if (cancelled || !box) {
        return;
      }
      const map = createMap(box, cfg);
      const places: L.LatLngExpression[] = [];
      for (const [p, name, colour] of [
        [t.pickup, "Pickup", "#f5a623"],
        [t.dropoff, "Delivery address", "#a4161a"],
      ] as const) {
        if (p.lat !== undefined && p.lng !== undefined) {
          places.push([p.lat, p.lng]);
          L.circleMarker([p.lat, p.lng], { radius: 8, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1 }).bindTooltip(name).addTo(map);
        }
      }
      if (places.length > 0) {
        map.fitBounds(L.latLngBounds(places).pad(0.4), { maxZoom: 16 });
      }
      const driver = L.circleMarker([0, 0], { radius: 9, color: "#fff", weight: 3, fillColor: "#1f4e79", fillOpacity: 1, className: "driver-marker" });
      layers.current = { map, driver, fitted: false };
      setReady(true);
    });
    return () => {
      cancelled = true;
      layers.current?.map.remove();
      layers.current = undefined;
    };
    // made once; the effect below moves the driver
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const d = t.driver;
  useEffect(() => {
    const l = layers.current;
    if (!l) {
      return;
    }
    if (d && d.lat !== null && d.lng !== null) {
      l.driver.setLatLng([d.lat, d.lng]);
      if (!l.map.hasLayer(l.driver)) {
        l.driver.addTo(l.map).bindTooltip(d.name);
      }
      if (!l.fitted) {
        l.fitted = true;
        l.map.fitBounds(l.map.getBounds().extend([d.lat, d.lng]), { maxZoom: 16 });
      }
    } else if (l.map.hasLayer(l.driver)) {
      l.driver.remove();
    }
  }, [d?.lat, d?.lng, d?.name, ready, d]);

  return <div className="track-map" ref={el} role="img" aria-label={d && d.lat !== null ? `Map: your driver and the delivery address` : "Map of the delivery address"} data-testid="track-map" />;
}
