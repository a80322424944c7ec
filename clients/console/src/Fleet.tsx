import { useEffect, useRef, useState } from "react";
import { ok, type CellsFrame, type ChannelFrame, type Order, type RealtimeClient, type Schemas, type Viewport } from "@outrider/client";
import { ErrorLine } from "./ui";
import { api, describe } from "./session";
import { createMap, driverColour, L, mapConfig } from "./map";
import { href, navigate } from "./router";
import { active, label } from "./orders";
import { isOrderEvent } from "./live";

/** A driver on the map: the newest of what the list and the fleet channel told. */
interface Pin {
  id: string;
  name?: string;
  status: Schemas["DriverStatus"];
  available: boolean;
  active_orders: number;
  capacity: number;
  lat: number;
  lng: number;
  at: string;
}

/** How many drivers the side list names (the map shows them all). */
const listed = 200;

/**
 * The live fleet map. Its viewport is the fleet channel's: the node sends
 * the drivers inside the part of the map shown (a snapshot, then each
 * one's position at most once a second) and, for the rest of the world,
 * driver counts per map tile, drawn as numbered circles; moving the map
 * moves the viewport. Open orders are drawn where they wait (the pickup
 * until picked up, then the dropoff) and kept live by the orders channel.
 * Frames are applied to the map once per animation frame, so a busy city
 * costs one redraw, not one per position.
 */
export function Fleet({ rt }: { rt: RealtimeClient }) {
  const el = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | undefined>();
  const [shown, setShown] = useState<Pin[]>([]);
  const [cells, setCells] = useState(0);
  const [tiles, setTiles] = useState<boolean | undefined>();

  useEffect(() => {
    const container = el.current;
    if (!container) {
      return;
    }
    let map: L.Map | undefined;
    let cancelled = false;
    let sub: ReturnType<RealtimeClient["subscribe"]> | undefined;
    let ordersSub: ReturnType<RealtimeClient["subscribe"]> | undefined;
    const pins = new Map<string, Pin>();
    const names = new Map<string, string>();
    const markers = new Map<string, L.CircleMarker>();
    const orderMarkers = new Map<string, L.CircleMarker>();
    const cellLayer = L.layerGroup();
    let pending = 0;
    let moveTimer = 0;

    const flush = () => {
      pending = 0;
      if (!map) {
        return;
      }
      for (const p of pins.values()) {
        let m = markers.get(p.id);
        const style = { color: "#fff", weight: 2, fillColor: driverColour(p), fillOpacity: 1, radius: 7 };
        if (!m) {
          m = L.circleMarker([p.lat, p.lng], { ...style, className: "driver-marker" }).addTo(map);
          m.getElement()?.setAttribute("data-driver-id", p.id);
          m.bindTooltip(() => `${p.name ?? p.id} · ${p.status}${p.available ? "" : " (unavailable)"} · ${p.active_orders}/${p.capacity}`);
          markers.set(p.id, m);
        } else {
          m.setLatLng([p.lat, p.lng]).setStyle(style);
        }
      }
      const b = map.getBounds();
      setShown(
        [...pins.values()]
          .filter((p) => b.contains([p.lat, p.lng]))
          .sort((a, b) => (a.name ?? a.id).localeCompare(b.name ?? b.id))
          .slice(0, listed),
      );
    };
    const schedule = () => {
      if (!pending) {
        pending = window.requestAnimationFrame(flush);
      }
    };

    // Counts of the tiles not wholly inside the viewport. A tile across
    // its edge counts the drivers inside too, who are drawn one by one:
    // so a tile whose drivers' mean position is on the map is left out
    // (its drivers are the markers there), the rest are drawn where their
    // drivers are, at the map's edges or beyond.
    let lastCells: CellsFrame | undefined;
    const drawCells = (f: CellsFrame) => {
      lastCells = f;
      cellLayer.clearLayers();
      const shown = map?.getBounds();
      let n = 0;
      for (const c of f.cells) {
        if (shown?.contains([c.lat, c.lng])) {
          continue;
        }
        n += c.count;
        L.marker([c.lat, c.lng], {
          icon: L.divIcon({ className: "cell", html: String(c.count), iconSize: [34, 34] }),
          keyboard: false,
          title: `${c.count} drivers`,
        }).addTo(cellLayer);
      }
      setCells(n);
    };

    const onFleet = (f: ChannelFrame) => {
      if (f.type === "driver") {
        const known = pins.get(f.driver_id);
        const pos =
          f.lat !== undefined && f.lng !== undefined && f.at !== undefined && (!known || Date.parse(f.at) >= Date.parse(known.at))
            ? { lat: f.lat, lng: f.lng, at: f.at }
            : known && { lat: known.lat, lng: known.lng, at: known.at };
        if (pos) {
          pins.set(f.driver_id, { id: f.driver_id, name: names.get(f.driver_id), status: f.status, available: f.available, active_orders: f.active_orders, capacity: f.capacity, ...pos });
          schedule();
        }
      } else if (f.type === "location") {
        const known = pins.get(f.driver_id);
        if (known && Date.parse(f.ts) >= Date.parse(known.at)) {
          pins.set(f.driver_id, { ...known, lat: f.lat, lng: f.lng, at: f.ts });
          schedule();
        }
      } else if (f.type === "cells") {
        drawCells(f);
      }
    };

    const drawOrder = (o: Order) => {
      const old = orderMarkers.get(o.id);
      const place = o.status === "picked_up" || o.status === "in_transit" ? o.dropoff : o.pickup;
      if (!map || !active.includes(o.status) || place.lat === undefined || place.lng === undefined) {
        old?.remove();
        orderMarkers.delete(o.id);
        return;
      }
      const style = { radius: 6, color: "#7a4b00", weight: 2, fillColor: o.status === "pending" ? "#f5a623" : "#ffe0a3", fillOpacity: 1 };
      if (old) {
        old.setLatLng([place.lat, place.lng]).setStyle(style);
        return;
      }
      const m = L.circleMarker([place.lat, place.lng], { ...style, className: "order-marker" }).addTo(map);
      m.getElement()?.setAttribute("data-order-id", o.id);
      m.bindTooltip(() => `${label(o.status)}: ${o.pickup.address} → ${o.dropoff.address}`);
      m.on("click", () => navigate(href({ view: "order", id: o.id })));
      orderMarkers.set(o.id, m);
    };

    void (async () => {
      try {
        const [cfg, list, orders] = await Promise.all([
          mapConfig(),
          ok(api.GET("/v1/drivers", { params: { query: { limit: 200 } } })),
          ok(api.GET("/v1/orders", { params: { query: { limit: 200, status: active.join(",") } } })),
        ]);
        if (cancelled) {
          return;
        }
        setTiles(cfg.tiles !== null);
        map = createMap(container, cfg);
        cellLayer.addTo(map);
        const seen: L.LatLngExpression[] = [];
        for (const d of list.items) {
          names.set(d.id, d.name);
          if (d.last_location) {
            seen.push([d.last_location.lat, d.last_location.lng]);
          }
        }
        for (const o of orders.items) {
          if (o.pickup.lat !== undefined && o.pickup.lng !== undefined) {
            seen.push([o.pickup.lat, o.pickup.lng]);
          }
        }
        if (seen.length > 0) {
          map.fitBounds(L.latLngBounds(seen).pad(0.2), { maxZoom: 15 });
        }
        orders.items.forEach(drawOrder);
        ordersSub = rt.subscribe("orders", (f) => isOrderEvent(f) && drawOrder(f.data.order));
        sub = rt.subscribe("fleet", onFleet, { viewport: viewportOf(map) });
        sub.ready.catch((e: unknown) => !cancelled && setError(`The map is not live: ${describe(e)}`));
        map.on("moveend", () => {
          window.clearTimeout(moveTimer);
          moveTimer = window.setTimeout(() => {
            if (map && !cancelled) {
              rt.setViewport(viewportOf(map)).catch((e: unknown) => setError(describe(e)));
              if (lastCells) {
                drawCells(lastCells);
              }
              schedule();
            }
          }, 250);
        });
      } catch (e) {
        if (!cancelled) {
          setError(describe(e));
        }
      }
    })();

    return () => {
      cancelled = true;
      window.cancelAnimationFrame(pending);
      window.clearTimeout(moveTimer);
      void sub?.unsubscribe().catch(() => {});
      void ordersSub?.unsubscribe().catch(() => {});
      map?.remove();
    };
  }, [rt]);

  return (
    <main className="fleet">
      <div className="fleet-map" ref={el} role="application" aria-label="Fleet map: arrow keys pan, + and − zoom" tabIndex={0} />
      <aside className="fleet-side" aria-labelledby="fleet-title">
        <h2 id="fleet-title">Drivers in view</h2>
        <ErrorLine error={error} />
        <p className="muted">
          {shown.length}
          {shown.length === listed ? "+" : ""} in view · {cells} elsewhere
          {tiles === false && " · plain map (no tiles configured)"}
        </p>
        <table className="drivers">
          <thead>
            <tr>
              <th scope="col">Driver</th>
              <th scope="col">State</th>
              <th scope="col">Position</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((p) => (
              <tr key={p.id} data-driver-id={p.id}>
                <td>{p.name ?? <code>{p.id.slice(-8)}</code>}</td>
                <td>
                  <span className="dot" style={{ background: driverColour(p) }} aria-hidden="true" /> {p.status}
                  {p.available ? "" : " (unavailable)"} · {p.active_orders}/{p.capacity}
                </td>
                <td className="position">
                  {p.lat.toFixed(5)}, {p.lng.toFixed(5)}
                  <br />
                  <small>{new Date(p.at).toLocaleTimeString()}</small>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </aside>
    </main>
  );
}

/** The part of the world the map shows, a little larger, as the fleet channel's viewport. */
export function viewportOf(map: L.Map): Viewport {
  const b = map.getBounds().pad(0.1);
  const south = Math.max(-85, b.getSouth());
  const north = Math.min(85, b.getNorth());
  if (b.getEast() - b.getWest() >= 360) {
    return { south, north, west: -180, east: 180 };
  }
  const wrap = (x: number) => (x >= -180 && x <= 180 ? x : ((((x + 180) % 360) + 360) % 360) - 180);
  return { south, north, west: wrap(b.getWest()), east: wrap(b.getEast()) };
}
