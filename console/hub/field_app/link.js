// The websocket to the hub (/ws/field) and the sync of the offline queue over it.
//
// FieldLink owns one socket at a time: hello with the device's last_seq, reconnect with
// exponential backoff and jitter, and going quiet while the phone reports no network.
// Sync sends the queue strictly in order, one item in flight, and deletes an item only
// once the hub has answered for it, so nothing is lost when the link drops mid-way.

export const APP_VERSION = "1.0.0";
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const REPLY_TIMEOUT_MS = 20000;
const DEFAULT_CHUNK_BYTES = 256 * 1024;
const MAX_UPLOAD_ATTEMPTS = 3;

export const CLOSE_UNAUTHORIZED = 4401;

export class LinkClosed extends Error {}

export class HubRefused extends Error {
  constructor(reply) {
    super(reply.detail || reply.code);
    this.reply = reply;
  }
}

export function fieldSocketUrl(loc = window.location) {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws/field`;
}

export class FieldLink extends EventTarget {
  /** `hello()` returns the hello message to send (it reads last_seq when called). */
  constructor(url, hello) {
    super();
    this.url = url;
    this.hello = hello;
    this.state = "offline";
    this.welcome = null;
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.waiters = new Set();
    this.onOnline = () => this.connectNow();
    this.onOffline = () => this.drop("device offline");
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.connectNow();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    this.drop("logged out");
  }

  connectNow() {
    clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    if (!this.socket) this.open();
  }

  open() {
    if (this.stopped || this.socket) return;
    if (!navigator.onLine) {
      this.setState("offline");
      return;
    }
    this.setState("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = async () => {
      const hello = await this.hello();
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(hello));
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // the hub only sends JSON; ignore anything else rather than crash
      }
      if (message.type === "welcome") {
        this.welcome = message;
        this.attempt = 0;
        this.setState("online");
      }
      for (const waiter of [...this.waiters]) waiter.offer(message);
      this.dispatchEvent(new CustomEvent("message", { detail: message }));
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.failWaiters(new LinkClosed(event.reason || `closed (${event.code})`));
      if (event.code === CLOSE_UNAUTHORIZED) {
        this.stopped = true;
        this.setState("offline");
        this.dispatchEvent(new CustomEvent("unauthorized", { detail: event.reason }));
        return;
      }
      this.setState("offline");
      this.schedule();
    };
  }

  /** Close the socket now (no network, logout); reconnects later unless stopped. */
  drop(reason) {
    const socket = this.socket;
    this.socket = null;
    clearTimeout(this.timer);
    this.timer = null;
    if (socket) socket.close(1000, reason);
    this.failWaiters(new LinkClosed(reason));
    this.setState("offline");
  }

  schedule() {
    if (this.stopped || this.timer || !navigator.onLine) return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.open();
    }, delay);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  /** Send now if online; false when the message could not be handed to the socket. */
  send(message) {
    if (this.state !== "online" || !this.socket) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Resolve with the first message for which `match` returns true; "error" replies reject. */
  reply(match, timeoutMs = REPLY_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const waiter = {
        offer: (message) => {
          const verdict = match(message);
          if (verdict === "error") finish(() => reject(new HubRefused(message)));
          else if (verdict) finish(() => resolve(message));
        },
        fail: (error) => finish(() => reject(error)),
      };
      const timer = setTimeout(() => {
        // A silent hub is treated like a broken link: reconnect and resend.
        waiter.fail(new LinkClosed("no answer from the hub"));
        this.drop("no answer from the hub");
        this.schedule();
      }, timeoutMs);
      const finish = (settle) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        settle();
      };
      this.waiters.add(waiter);
    });
  }

  failWaiters(error) {
    for (const waiter of [...this.waiters]) waiter.fail(error);
  }

  get maxChunkBytes() {
    const limit = this.welcome?.limits?.max_chunk_bytes;
    return Math.min(DEFAULT_CHUNK_BYTES, limit || DEFAULT_CHUNK_BYTES);
  }
}

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** Lower-case hex SHA-256 of a Blob, computed on the device (needs a secure context). */
export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// Replies that are not "<type>.ok": the procedure answers with the case's new state.
const REPLY_TYPES = { "procedure.start": "procedure.state", "procedure.step": "procedure.state" };

const errorFor = (...refs) => (message) =>
  message.type === "error" && (message.ref == null || refs.includes(message.ref));

export class Sync extends EventTarget {
  constructor(db, link) {
    super();
    this.db = db;
    this.link = link;
    this.running = false;
    this.prepare = {}; // item type -> async (message, item, db) completing the message before it is sent
    link.addEventListener("state", (event) => {
      if (event.detail === "online") this.flush();
    });
  }

  async enqueue(item) {
    await this.db.enqueue(item);
    await this.changed();
    this.flush();
  }

  async changed() {
    const count = await this.db.queueLength();
    this.dispatchEvent(new CustomEvent("queue", { detail: count }));
  }

  /** Send queued items in order until the queue is empty or the link drops. */
  async flush() {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        if (this.link.state !== "online") break;
        const item = await this.db.head();
        if (!item) break;
        try {
          await this.process(item);
        } catch (error) {
          if (error instanceof LinkClosed) break;
          throw error;
        }
        await this.changed();
      }
    } finally {
      this.running = false;
    }
  }

  async process(item) {
    if (item.type === "position") {
      if (!this.link.send(item.msg)) throw new LinkClosed("offline");
      await this.db.delete("queue", item.id);
      return;
    }
    if (item.type === "upload") {
      await this.upload(item);
      return;
    }
    const message = { ...item.msg };
    if (item.type === "report") {
      const ids = [];
      for (const uploadId of item.upload_ids) {
        const upload = await this.db.get("uploads", uploadId);
        if (upload?.attachment_id) ids.push(upload.attachment_id);
      }
      message.attachment_ids = ids;
    }
    await this.prepare[item.type]?.(message, item, this.db);
    const answer = this.link.reply((reply) => {
      if (errorFor(message.msg_id)(reply)) return "error";
      if (reply.type !== (REPLY_TYPES[message.type] ?? `${message.type}.ok`)) return false;
      return reply.ref != null ? reply.ref === message.msg_id : reply.task_id === message.task_id;
    });
    if (!this.link.send(message)) throw new LinkClosed("offline");
    let reply;
    try {
      reply = await answer;
    } catch (error) {
      if (!(error instanceof HubRefused)) throw error;
      await this.db.delete("queue", item.id);
      this.emit("refused", { item, reply: error.reply });
      return;
    }
    await this.db.delete("queue", item.id);
    if (item.type === "report") {
      for (const uploadId of item.upload_ids) await this.db.delete("uploads", uploadId);
    }
    this.emit("accepted", { item, reply });
  }

  async upload(item) {
    const upload = await this.db.get("uploads", item.upload_id);
    if (!upload || upload.attachment_id) {
      await this.db.delete("queue", item.id);
      return;
    }
    const id = upload.upload_id;
    const mine = (type) => (m) => (errorFor(id)(m) ? "error" : m.type === type && m.upload_id === id);
    const exchange = async (message, type) => {
      const answer = this.link.reply(mine(type));
      if (!this.link.send(message)) throw new LinkClosed("offline");
      return answer;
    };
    try {
      const begin = {
        type: "upload.begin",
        upload_id: id,
        task_id: upload.task_id,
        kind: upload.kind,
        mime: upload.mime,
        size: upload.size,
        sha256: upload.sha256,
        msg_id: id,
      };
      let received = (await exchange(begin, "upload.ready")).received || 0;
      const chunk = this.link.maxChunkBytes;
      while (received < upload.size) {
        const bytes = new Uint8Array(await upload.blob.slice(received, received + chunk).arrayBuffer());
        const message = { type: "upload.chunk", upload_id: id, offset: received, data: base64(bytes), msg_id: id };
        received = (await exchange(message, "upload.progress")).received;
        this.emit("progress", { upload_id: id, received, size: upload.size });
      }
      const doneReply = await exchange({ type: "upload.end", upload_id: id, msg_id: id }, "upload.done");
      // The bytes are on the hub now; keep only the id the report will reference.
      await this.db.put("uploads", { ...upload, blob: null, attachment_id: doneReply.attachment_id });
      await this.db.delete("queue", item.id);
    } catch (error) {
      if (!(error instanceof HubRefused)) throw error;
      const attempts = (item.attempts || 0) + 1;
      if (attempts < MAX_UPLOAD_ATTEMPTS) {
        await this.db.put("queue", { ...item, attempts }); // the hub discarded the partial file
      } else {
        await this.db.delete("queue", item.id);
        this.emit("refused", { item, reply: error.reply });
      }
    }
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
