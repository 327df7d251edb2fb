/**
 * Reading every row of a paginated server list (`?limit&cursor` → `next_cursor`,
 * src/core/pagination.ts): page after page until the server says there is none left.
 */
type PageQuery = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface PagedGetter {
  get<T>(path: string, query?: PageQuery): Promise<T>;
}

/** The largest page the server gives. */
export const SERVER_PAGE_LIMIT = 1000;

/**
 * Every page of `path`'s answer, in the list's order: `each` receives each page's body. An answer
 * without `next_cursor` (a cached one from an older server) is the last page.
 */
export async function forEachPage<B extends { next_cursor?: string | null }>(
  api: PagedGetter,
  path: string,
  query: PageQuery,
  each: (body: B) => void,
): Promise<void> {
  let cursor: string | undefined;
  do {
    const body = await api.get<B>(path, {
      ...query,
      limit: SERVER_PAGE_LIMIT,
      ...(cursor ? { cursor } : {}),
    });
    each(body);
    cursor = body.next_cursor ?? undefined;
  } while (cursor);
}

/** Every row of the list `key` of `path`'s answer, following next_cursor. */
export async function getAllPages<Row>(
  api: PagedGetter,
  path: string,
  key: string,
  query: PageQuery = {},
): Promise<Row[]> {
  const rows: Row[] = [];
  await forEachPage<Record<string, unknown> & { next_cursor?: string | null }>(api, path, query, (body) => {
    rows.push(...((body[key] as Row[] | undefined) ?? []));
  });
  return rows;
}
