import { parseCql, statementKind } from './cassandra.js';

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

describe('statementKind (the labels of parley_cassandra_request_seconds)', () => {
  it('names the op and table of each statement form, and a batch by its first statement', () => {
    expect(statementKind('SELECT chat_id, acked_seq FROM inbox_cursors WHERE user_id = ?')).toEqual(['select', 'inbox_cursors']);
    expect(statementKind('INSERT INTO ks.messages (chat_id, seq) VALUES (?, ?) USING TIMESTAMP ?')).toEqual(['insert', 'messages']);
    expect(statementKind('UPDATE chat_heads SET seq = ? WHERE chat_id = ?')).toEqual(['update', 'chat_heads']);
    expect(statementKind('DELETE FROM sessions WHERE id = ?')).toEqual(['delete', 'sessions']);
    expect(statementKind([{ query: 'INSERT INTO messages (a) VALUES (?)', params: [] }])).toEqual(['insert_batch', 'messages']);
    expect(statementKind(undefined)).toEqual(['other', '']);
    expect(statementKind('SELECT payload FROM messages WHERE chat_id = ? AND bucket = ? AND seq IN ?')).toEqual(['select_in', 'messages']);
    expect(statementKind('SELECT payload FROM messages WHERE chat_id = ? AND bucket = ? AND seq > ? AND seq <= ? LIMIT ?')).toEqual(['select_range', 'messages']);
  });
});
