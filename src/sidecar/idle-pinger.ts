import type WebSocket from 'ws';

interface Tracked {
  heardSinceTick: boolean;
  unanswered: number;
}

/**
 * Pings client websockets that have been quiet for a whole interval. The ping keeps load balancers and NAT
 * tables from dropping an idle CDP connection; a peer that leaves several pings unanswered is gone (half-open
 * TCP), and is terminated so it stops counting as a connected client.
 */
export class IdlePinger {
  private readonly sockets = new Map<WebSocket, Tracked>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    intervalMs: number,
    private readonly maxUnanswered = 3,
  ) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  track(socket: WebSocket): void {
    const tracked: Tracked = { heardSinceTick: true, unanswered: 0 };
    const heard = () => {
      tracked.heardSinceTick = true;
      tracked.unanswered = 0;
    };
    socket.on('message', heard);
    socket.on('pong', heard);
    socket.once('close', () => this.sockets.delete(socket));
    this.sockets.set(socket, tracked);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    for (const [socket, tracked] of this.sockets) {
      if (tracked.heardSinceTick) {
        tracked.heardSinceTick = false;
        continue;
      }
      if (tracked.unanswered >= this.maxUnanswered) {
        socket.terminate();
        continue;
      }
      tracked.unanswered += 1;
      socket.ping();
    }
  }
}
