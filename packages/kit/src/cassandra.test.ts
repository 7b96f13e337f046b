import { parseCql } from './cassandra.js';

describe('parseCql', () => {
  it('splits on a ; that ends a line and strips comments', () => {
    const text = [
      '-- the accounts table',
      'CREATE TABLE IF NOT EXISTS users (',
      '  id text PRIMARY KEY, -- the user id',
      "  bio text // free text",
      ');',
      '',
      '// an index',
      'CREATE INDEX IF NOT EXISTS ON users (bio);  ',
      'INSERT INTO users (id, bio) VALUES (\'a\', \'x; -- not a comment // nor this\');',
    ].join('\n');
    expect(parseCql(text)).toEqual([
      'CREATE TABLE IF NOT EXISTS users (\n  id text PRIMARY KEY, \n  bio text \n)',
      'CREATE INDEX IF NOT EXISTS ON users (bio)',
      "INSERT INTO users (id, bio) VALUES ('a', 'x; -- not a comment // nor this')",
    ]);
  });

  it('keeps a ; inside a line and handles CRLF and a missing final ;', () => {
    expect(parseCql("CREATE TABLE a (k int PRIMARY KEY) WITH comment = 'a;b';\r\nDROP TABLE b")).toEqual([
      "CREATE TABLE a (k int PRIMARY KEY) WITH comment = 'a;b'",
      'DROP TABLE b',
    ]);
  });

  it('understands escaped quotes', () => {
    expect(parseCql("INSERT INTO t (k) VALUES ('it''s -- fine'); -- done\n")).toEqual(["INSERT INTO t (k) VALUES ('it''s -- fine')"]);
  });

  it('returns nothing for comments only', () => {
    expect(parseCql('-- nothing\n// here\n\n')).toEqual([]);
  });
});
