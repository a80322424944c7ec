/**
 * The console's routes: paths under /console/, moved between with the
 * History API (no reload), so every view has a link that survives a
 * reload and a bookmark (the node answers index.html for any path under
 * /console/ that names no file).
 */
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from "react";

export const base = "/console";

export type Route =
  | { view: "board" }
  | { view: "order"; id: string }
  | { view: "fleet" }
  | { view: "stats" }
  | { view: "cluster" }
  | { view: "webhooks" }
  | { view: "webhook"; id: string }
  | { view: "users" }
  | { view: "missing"; path: string };

/** The route of a path (the part after the origin). */
export function parse(path: string): Route {
  const rest = path.startsWith(base) ? path.slice(base.length) : path;
  let parts: string[];
  try {
    parts = rest.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return { view: "missing", path }; // a malformed %-escape
  }
  const [first, id, ...more] = parts;
  if (more.length > 0) {
    return { view: "missing", path };
  }
  switch (first) {
    case undefined:
      return { view: "board" };
    case "orders":
      return id !== undefined ? { view: "order", id } : { view: "missing", path };
    case "webhooks":
      return id !== undefined ? { view: "webhook", id } : { view: "webhooks" };
    case "fleet":
    case "stats":
    case "cluster":
    case "users":
      return id === undefined ? { view: first } : { view: "missing", path };
    default:
      return { view: "missing", path };
  }
}

/** The path of a route. */
export function href(r: Exclude<Route, { view: "missing" }>): string {
  switch (r.view) {
    case "board":
      return `${base}/`;
    case "order":
      return `${base}/orders/${encodeURIComponent(r.id)}`;
    case "webhook":
      return `${base}/webhooks/${encodeURIComponent(r.id)}`;
    default:
      return `${base}/${r.view}`;
  }
}

const listeners = new Set<() => void>();
window.addEventListener("popstate", () => listeners.forEach((l) => l()));

/** Goes to a path of the console without a reload. */
export function navigate(to: string): void {
  if (to !== window.location.pathname) {
    window.history.pushState(null, "", to);
    listeners.forEach((l) => l());
  }
}

/** The current route, following navigation and the browser's back and forward. */
export function useRoute(): Route {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const l = () => setPath(window.location.pathname);
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return parse(path);
}

/** A link inside the console: a real <a href> (open in a new tab works), followed without a reload. */
export function Link({ to, onClick, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const follow = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) {
      return;
    }
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={follow} {...rest} />;
}
