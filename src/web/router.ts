/**
 * Page routes on the History API: /, /repos/:id, /streams/:id, /agents/:id, /activity. Same-origin
 * links are followed without a reload; the server answers index.html for these paths.
 */
import { useEffect, useState } from 'preact/hooks';
import type { PageName, Route } from './types.js';

const routeListeners = new Set<() => void>();

/** The page for `pathname`: {page, id?}. */
export function parseRoute(pathname: string): Route {
  if (pathname === '/' || pathname === '') return { page: 'repos' };
  if (pathname === '/activity') return { page: 'activity' };
  const match = /^\/(repos|streams|agents)\/([^/]+)\/?$/.exec(pathname);
  if (match) {
    const pages: Record<string, PageName> = { repos: 'repo', streams: 'stream', agents: 'agent' };
    const page = pages[match[1] as string] as PageName;
    return { page, id: decodeURIComponent(match[2] as string) };
  }
  return { page: 'not-found' };
}

/** Goes to `path` without a reload. */
export function navigate(path: string): void {
  if (path === location.pathname + location.search) return;
  history.pushState(null, '', path);
  for (const listener of routeListeners) listener();
  window.scrollTo(0, 0);
}

/** The current route; follows history navigation and intercepted link clicks. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname));
    routeListeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      routeListeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** Follows clicks on same-origin page links in-app (a modified or middle click opens as usual). */
export function interceptLinks(root: HTMLElement): void {
  root.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target instanceof Element ? event.target.closest<HTMLAnchorElement>('a[href]') : null;
    if (!link || link.target || link.hasAttribute('download')) return;
    const url = new URL(link.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
    if (parseRoute(url.pathname).page === 'not-found') return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}
