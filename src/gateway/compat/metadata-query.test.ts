import { describe, expect, it } from 'vitest';
import { matchesMetadata, parseMetadataQuery } from './metadata-query.js';

describe('parseMetadataQuery', () => {
  it.each([
    ["user_metadata['run']:'smoke'", [{ path: ['run'], value: 'smoke' }]],
    ["user_metadata['a']['b']:'v'", [{ path: ['a', 'b'], value: 'v' }]],
    ['user_metadata["a"]["b"] : "v w"', [{ path: ['a', 'b'], value: 'v w' }]],
    ["user_metadata['it\\'s']:'o\\'k'", [{ path: ["it's"], value: "o'k" }]],
    ["user_metadata['k']:''", [{ path: ['k'], value: '' }]],
    [
      "user_metadata['a']:'1' AND user_metadata['b']['c']:'2'",
      [
        { path: ['a'], value: '1' },
        { path: ['b', 'c'], value: '2' },
      ],
    ],
    [
      "  user_metadata['a']:'1'  and  user_metadata['b']:'2'  ",
      [
        { path: ['a'], value: '1' },
        { path: ['b'], value: '2' },
      ],
    ],
  ])('parses %s', (q, want) => {
    expect(parseMetadataQuery(q)).toEqual(want);
  });

  it.each([
    ['', 'empty query at position 0'],
    ["metadata['a']:'v'", "expected 'user_metadata', found 'm' at position 0"],
    ["user_metadata:'v'", "expected '[' and a quoted key after user_metadata at position 13"],
    ["user_metadata[a]:'v'", "expected a quoted key, found 'a' at position 14"],
    ["user_metadata['a':'v'", "expected ']', found ':' at position 17"],
    ["user_metadata['a']'v'", "expected ':', found ''' at position 18"],
    ["user_metadata['a']:v", "expected a quoted value, found 'v' at position 19"],
    ["user_metadata['a']:'v", "unterminated value (missing closing ') at position 19"],
    [
      "user_metadata['a']:'v' OR user_metadata['b']:'w'",
      "expected AND or the end of the query, found 'O' at position 23",
    ],
    ["user_metadata['a']:'v' AND", "expected 'user_metadata', found the end of the query at position 26"],
  ])('rejects %j and says where', (q, message) => {
    expect(() => parseMetadataQuery(q)).toThrow(message);
  });
});

describe('matchesMetadata', () => {
  const meta = { run: 'smoke', nested: { id: 'abc', n: 5, flag: true }, list: ['x'] };
  it.each([
    [[{ path: ['run'], value: 'smoke' }], true],
    [[{ path: ['run'], value: 'Smoke' }], false],
    [[{ path: ['nested', 'id'], value: 'abc' }], true],
    [[{ path: ['nested', 'missing'], value: 'abc' }], false],
    // Browserbase compares strings only: numbers and booleans never match.
    [[{ path: ['nested', 'n'], value: '5' }], false],
    [[{ path: ['nested', 'flag'], value: 'true' }], false],
    [[{ path: ['list', '0'], value: 'x' }], false],
    [[{ path: ['nested'], value: '[object Object]' }], false],
    [[{ path: ['toString'], value: 'x' }], false],
    [
      [
        { path: ['run'], value: 'smoke' },
        { path: ['nested', 'id'], value: 'abc' },
      ],
      true,
    ],
    [
      [
        { path: ['run'], value: 'smoke' },
        { path: ['nested', 'id'], value: 'zzz' },
      ],
      false,
    ],
    [[], true],
  ])('%j → %s', (clauses, want) => {
    expect(matchesMetadata(meta, clauses)).toBe(want);
  });

  it('never matches a session without metadata', () => {
    expect(matchesMetadata(undefined, [{ path: ['run'], value: 'smoke' }])).toBe(false);
  });
});
