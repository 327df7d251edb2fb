/** The document title follows the page (screen readers announce it). */
import { useEffect } from 'preact/hooks';

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · GitSwarm` : 'GitSwarm';
  }, [title]);
}
