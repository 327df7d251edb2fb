/**
 * A small WebSocket test client: connects, queues every JSON message, and waits for the next
 * message matching a predicate.
 */
import WebSocket from 'ws';

export interface WsMessage {
  type: string;
  [key: string]: unknown;
}

export interface WsClient {
  socket: WebSocket;
  received: WsMessage[];
  /** The next message (from the start of the connection, in order) that matches and was not taken yet. */
  next(predicate?: (message: WsMessage) => boolean): Promise<WsMessage>;
  send(message: unknown): void;
  close(): Promise<void>;
}

/** Opens a WebSocket to `url`; rejects with the HTTP status when the handshake is refused. */
export function connectWs(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    const received: WsMessage[] = [];
    const taken = new Set<number>();
    let waiters: (() => void)[] = [];
    socket.on('message', (data) => {
      received.push(JSON.parse(String(data)) as WsMessage);
      const current = waiters;
      waiters = [];
      for (const wake of current) wake();
    });
    socket.once('unexpected-response', (_request, response) => {
      reject(
        Object.assign(new Error(`handshake refused: ${response.statusCode}`), {
          status: response.statusCode,
        }),
      );
    });
    socket.once('error', reject);
    socket.once('open', () => {
      resolve({
        socket,
        received,
        next(predicate = () => true) {
          return new Promise((resolveNext, rejectNext) => {
            const check = () => {
              const index = received.findIndex((m, i) => !taken.has(i) && predicate(m));
              if (index >= 0) {
                taken.add(index);
                resolveNext(received[index] as WsMessage);
                return;
              }
              if (socket.readyState === WebSocket.CLOSED) {
                rejectNext(new Error('socket closed'));
                return;
              }
              waiters.push(check);
            };
            socket.once('close', () => {
              const current = waiters;
              waiters = [];
              for (const wake of current) wake();
            });
            check();
          });
        },
        send(message) {
          socket.send(typeof message === 'string' ? message : JSON.stringify(message));
        },
        close() {
          return new Promise((resolveClose) => {
            if (socket.readyState === WebSocket.CLOSED) return resolveClose();
            socket.once('close', () => resolveClose());
            socket.close();
          });
        },
      });
    });
  });
}
