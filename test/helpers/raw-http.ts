import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';

/** A GET or POST to a local server, with the status, body and headers it answered. */
export function httpRequest(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Opens a TCP connection and asks for a WebSocket upgrade by hand, so a test
 * can then misbehave as no WebSocket library would. Resolves with the socket
 * and the status line the server answered.
 */
export function rawUpgrade(port: number, path: string, headers: Record<string, string>): Promise<{ socket: Socket; status: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      resolve({ socket, status: Number(head.slice(9, 12)) });
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`the server closed the connection before answering: ${JSON.stringify(head)}`)));
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

/** A WebSocket frame built by hand (RFC 6455 §5.2), well-formed or not. */
export function wsFrame(o: { opcode: number; payload: Buffer; mask?: boolean; rsv1?: boolean; fin?: boolean; declaredLength?: number }): Buffer {
  const length = o.declaredLength ?? o.payload.length;
  const first = ((o.fin ?? true) ? 0x80 : 0) | (o.rsv1 === true ? 0x40 : 0) | o.opcode;
  const masked = o.mask ?? true;
  let header: Buffer;
  if (length < 126) header = Buffer.from([first, (masked ? 0x80 : 0) | length]);
  else if (length < 65536) {
    header = Buffer.alloc(4);
    header.writeUInt8(first, 0);
    header.writeUInt8((masked ? 0x80 : 0) | 126, 1);
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header.writeUInt8(first, 0);
    header.writeUInt8((masked ? 0x80 : 0) | 127, 1);
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  if (!masked) return Buffer.concat([header, o.payload]);
  const key = randomBytes(4);
  const body = Buffer.from(o.payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i % 4]!;
  return Buffer.concat([header, key, body]);
}

/** Resolves when the server closes (or resets) the connection. */
export function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once('close', () => resolve());
  });
}
