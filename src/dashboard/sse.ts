/**
 * One Server-Sent Events response. Writes respect the socket: `send` reports whether the
 * kernel buffer took the data, and `drained()` waits until it did — so a browser that stops
 * reading holds at most one buffer's worth here, never a growing backlog.
 */
import type http from 'node:http';

/**
 * JSON of the objects sent so far, by identity: the bridge hands the same event object to every
 * open stream, so with several pages open an event is serialized once, not once per page.
 * Weak, so an entry lives as long as its event does. Sent objects are never changed afterwards.
 */
const jsonByObject = new WeakMap<object, string>();

function jsonOf(data: unknown): string {
  if (typeof data !== 'object' || data === null) return JSON.stringify(data);
  let json = jsonByObject.get(data);
  if (json === undefined) {
    json = JSON.stringify(data);
    jsonByObject.set(data, json);
  }
  return json;
}

export class SseStream {
  private closedFlag = false;
  private readonly closeListeners: Array<() => void> = [];

  constructor(
    private readonly res: http.ServerResponse,
    options: { retryMs?: number } = {},
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Tell EventSource how soon to reconnect when the stream drops.
    res.write(`retry: ${options.retryMs ?? 1000}\n\n`);
    const onClose = () => {
      if (this.closedFlag) return;
      this.closedFlag = true;
      for (const l of this.closeListeners) l();
    };
    res.on('close', onClose);
    res.on('error', onClose);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Runs `listener` when the client goes away; returns what removes it again. */
  onClose(listener: () => void): () => void {
    if (this.closedFlag) {
      listener();
      return () => {};
    }
    this.closeListeners.push(listener);
    return () => {
      const i = this.closeListeners.indexOf(listener);
      if (i >= 0) this.closeListeners.splice(i, 1);
    };
  }

  /** Returns false when the socket buffer is full: await `drained()` before sending more. */
  send(event: string, data: unknown, id?: string | number): boolean {
    if (this.closedFlag) return false;
    // A data line must not contain a newline: JSON never has one; a plain string may.
    const body = typeof data === 'string' ? data.replace(/\n/g, '\ndata: ') : jsonOf(data);
    const frame = `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${body}\n\n`;
    return this.res.write(frame);
  }

  /** Resolves true once the socket took what was written, false if the client went away. */
  drained(): Promise<boolean> {
    if (this.closedFlag) return Promise.resolve(false);
    if (!this.res.writableNeedDrain) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      // Both listeners go once either fires: a long stream to a slow browser waits here often.
      const done = (ok: boolean) => {
        this.res.off('drain', onDrain);
        offClose();
        resolve(ok);
      };
      const onDrain = () => done(true);
      this.res.once('drain', onDrain);
      const offClose = this.onClose(() => done(false));
    });
  }

  end(): void {
    if (!this.closedFlag) this.res.end();
  }
}
