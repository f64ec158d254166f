import { describe, expect, it } from 'vitest';
import { parseQueueUrl, redactQueueUrl } from '../../shared/queue-url.js';

describe('queue URLs', () => {
  it('reads host, port, database, user and password, TLS from rediss://', () => {
    expect(parseQueueUrl('redis://127.0.0.1')).toMatchObject({ host: '127.0.0.1', port: 6379, db: 0, username: null, password: null, tls: false });
    expect(parseQueueUrl('rediss://bob:p%40ss@queue.lab:6380/2')).toMatchObject({
      host: 'queue.lab',
      port: 6380,
      db: 2,
      username: 'bob',
      password: 'p@ss',
      tls: true,
      shown: 'rediss://bob:***@queue.lab:6380/2',
    });
    expect(parseQueueUrl('redis://:secret@[::1]:7000')).toMatchObject({ host: '::1', port: 7000, password: 'secret', username: null });
  });

  it.each([
    ['http://queue:6379', /not http:\/\//],
    ['redis://', /a queue is a URL like/],
    ['redis://host:0', /port must be from 1 to 65535/],
    ['redis://host:6379/x', /a queue is a URL like/],
    ['redis://:%E0%A4%A@host', /password is not valid percent-encoding/],
    ['queue.lab:6379', /a queue is a URL like/],
  ])('refuses %s', (url, message) => {
    expect(() => parseQueueUrl(url)).toThrow(message);
  });

  it('never repeats a password in an error or in what it shows', () => {
    expect(() => parseQueueUrl('redis://:hunter2@host:port')).toThrow(/redis:\/\/:\*\*\*@host:port/);
    expect(redactQueueUrl('redis://user:hunter2@host/1')).toBe('redis://user:***@host/1');
    expect(redactQueueUrl('redis://host:6379')).toBe('redis://host:6379');
  });
});
