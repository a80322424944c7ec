/**
 * The console's maps (fleet, an order's trail, the tracking page): Leaflet,
 * bundled with its stylesheet, so no map code comes from outside the node.
 *
 * Tiles come from the URL the operator configured
 * (OUTRIDER_CONSOLE_TILES_URL, read from /console/config.json). With none
 * — the default, and the only choice with no internet — the map has no
 * tiles: drivers and orders are drawn on a plain Web Mercator projection
 * with a graticule and a scale, which is all a dispatcher needs to see who
 * is near what.
 */
import L from "leaflet";
import "leaflet/dist/leaflet.css";

/** What /console/config.json says about the map. */
export interface MapConfig {
  tiles: { url: string; attribution: string; max_zoom: number } | null;
}

let loaded: Promise<MapConfig> | undefined;

/** The node's map configuration, read once per page. */
export function mapConfig(): Promise<MapConfig> {
  loaded ??= fetch("/console/config.json", { headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? (r.json() as Promise<MapConfig>) : { tiles: null }))
    .catch(() => ({ tiles: null }));
  return loaded;
}

/** A map in el: tiles when configured, otherwise the plain projection with a graticule; a scale either way. */
export function createMap(el: HTMLElement, cfg: MapConfig): L.Map {
  const map = L.map(el, { zoomControl: true, attributionControl: cfg.tiles !== null, worldCopyJump: true, maxZoom: cfg.tiles?.max_zoom ?? 19 });
  // A view before any layer: Leaflet cannot draw a vector layer added to
  // a map without one. The caller moves it where it belongs.
  map.setView([30, 0], 2);
  if (cfg.tiles) {
    L.tileLayer(cfg.tiles.url, { attribution: cfg.tiles.attribution, maxZoom: cfg.tiles.max_zoom }).addTo(map);
  } else {
    el.classList.add("plain-map");
    addGraticule(map);
  }
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  return map;
}

/** Lines of latitude and longitude at a spacing that suits the zoom, redrawn as the map moves. */
function addGraticule(map: L.Map): void {
  const group = L.layerGroup().addTo(map);
  const style: L.PolylineOptions = { color: "#c3ccd5", weight: 1, interactive: false };
  const draw = () => {
    group.clearLayers();
    const b = map.getBounds();
    const span = Math.max(b.getNorth() - b.getSouth(), 1e-6);
    const step = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30].find((s) => span / s <= 12) ?? 30;
    const south = Math.max(-85, Math.floor(b.getSouth() / step) * step);
    const north = Math.min(85, b.getNorth());
    for (let lat = south; lat <= north; lat += step) {
      group.addLayer(L.polyline([[lat, b.getWest()], [lat, b.getEast()]], style));
    }
    for (let lng = Math.floor(b.getWest() / step) * step; lng <= b.getEast(); lng += step) {
      group.addLayer(L.polyline([[south, lng], [north, lng]], style));
    }
  };
  map.on("moveend", draw);
  map.whenReady(draw);
}

/** The colour of a driver's marker by state. */
export function driverColour(d: { status: string; available: boolean }): string {
  if (d.status === "offline" || !d.available) {
    return "#8a949e"; // off duty or not taking work
  }
  return d.status === "busy" ? "#1f4e79" : "#2e8540";
}

export { L };
