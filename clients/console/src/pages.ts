/** A cursor-paged list of the API (GET …?cursor=): the first page, then "Load more". */
import { useCallback, useEffect, useRef, useState } from "react";
import { describe } from "./session";

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface Pages<T> {
  items: T[];
  more: boolean;
  loading: boolean;
  error: string | undefined;
  loadMore: () => void;
  reload: () => void;
  /** Puts a changed item in its place. */
  replace: (item: T) => void;
  /** Puts a new item first. */
  prepend: (item: T) => void;
}

/** The pages of fetchPage; a new fetchPage (other filters) starts again from the first. */
export function usePages<T>(fetchPage: (cursor?: string) => Promise<Page<T>>, key: (item: T) => string): Pages<T> {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const generation = useRef(0);

  const load = useCallback(
    async (from?: string) => {
      const g = from ? generation.current : ++generation.current;
      setLoading(true);
      setError(undefined);
      try {
        const page = await fetchPage(from);
        if (g !== generation.current) {
          return; // the filters changed meanwhile
        }
        setItems((prev) => (from ? [...prev, ...page.items.filter((i) => !prev.some((p) => key(p) === key(i)))] : page.items));
        setCursor(page.next_cursor ?? null);
      } catch (e) {
        if (g === generation.current) {
          setError(describe(e));
        }
      } finally {
        if (g === generation.current) {
          setLoading(false);
        }
      }
    },
    // key is a pure accessor; fetchPage carries the filters
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [fetchPage],
  );

  useEffect(() => {
    void load();
  }, [load]);

  return {
    items,
    more: cursor !== null,
    loading,
    error,
    loadMore: () => cursor && void load(cursor),
    reload: () => void load(),
    replace: (item) => setItems((prev) => prev.map((p) => (key(p) === key(item) ? item : p))),
    prepend: (item) => setItems((prev) => [item, ...prev.filter((p) => key(p) !== key(item))]),
  };
}
