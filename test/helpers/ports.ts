/** TCP helpers for tests that start servers in other processes. */
import { createServer, Socket } from 'node:net';

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

/** Waits (polling, up to about 10 s) until nothing accepts connections on the port; returns whether it closed. */
export async function portCloses(port: number): Promise<boolean> {
  for (let i = 0; i < 200; i += 1) {
    if (!(await accepts(port))) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
