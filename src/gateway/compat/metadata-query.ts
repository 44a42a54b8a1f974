/**
 * Browserbase's session query language, `user_metadata['a']['b']:'v'`: a path of quoted keys into the
 * session's userMetadata and a quoted string it must equal. Several clauses may be joined with AND. Quotes
 * inside a quoted string are escaped with a backslash. Only strings compare equal, as Browserbase documents:
 * a number or boolean in the metadata never matches.
 */
export interface MetadataClause {
  path: string[];
  value: string;
}

export class QueryError extends Error {
  constructor(
    readonly position: number,
    what: string,
  ) {
    super(`${what} at position ${position}`);
  }
}

const PREFIX = 'user_metadata';

export function parseMetadataQuery(q: string): MetadataClause[] {
  let i = 0;
  const clauses: MetadataClause[] = [];
  const skipSpace = () => {
    while (i < q.length && /\s/.test(q[i] ?? '')) i++;
  };
  const expect = (text: string, what = `'${text}'`) => {
    if (!q.startsWith(text, i)) {
      throw new QueryError(
        i,
        `expected ${what}${i < q.length ? `, found '${q[i]}'` : ', found the end of the query'}`,
      );
    }
    i += text.length;
  };
  const quoted = (what: string): string => {
    const quote = q[i];
    if (quote !== "'" && quote !== '"') {
      throw new QueryError(
        i,
        `expected a quoted ${what}${i < q.length ? `, found '${q[i]}'` : ', found the end of the query'}`,
      );
    }
    const start = i;
    i++;
    let out = '';
    while (i < q.length && q[i] !== quote) {
      if (q[i] === '\\' && i + 1 < q.length) i++;
      out += q[i];
      i++;
    }
    if (i >= q.length) throw new QueryError(start, `unterminated ${what} (missing closing ${quote})`);
    i++;
    return out;
  };

  skipSpace();
  if (i >= q.length) throw new QueryError(0, 'empty query');
  for (;;) {
    expect(PREFIX);
    const path: string[] = [];
    while (q[i] === '[') {
      i++;
      path.push(quoted('key'));
      expect(']');
    }
    if (path.length === 0) throw new QueryError(i, "expected '[' and a quoted key after user_metadata");
    skipSpace();
    expect(':');
    skipSpace();
    clauses.push({ path, value: quoted('value') });
    skipSpace();
    if (i >= q.length) return clauses;
    const and = /^and(?:\s+|$)/i.exec(q.slice(i));
    if (!and) throw new QueryError(i, `expected AND or the end of the query, found '${q[i]}'`);
    i += and[0].length;
  }
}

export function matchesMetadata(meta: unknown, clauses: readonly MetadataClause[]): boolean {
  return clauses.every(({ path, value }) => {
    let at: unknown = meta;
    for (const key of path) {
      if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, key)) return false;
      at = (at as Record<string, unknown>)[key];
    }
    return typeof at === 'string' && at === value;
  });
}
