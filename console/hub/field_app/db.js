// The device's durable state in IndexedDB: the offline queue (positions, statuses, reports,
// uploads waiting for the hub), photo/voice blobs, received tasks and small settings.
// Everything the officer does is written here first, so closing the app, losing the
// network or a hub restart loses nothing.

const DB_NAME = "enforcement-field";
const DB_VERSION = 1;

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

export class FieldDb {
  static async open() {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      const queue = db.createObjectStore("queue", { keyPath: "id", autoIncrement: true });
      queue.createIndex("type", "type");
      db.createObjectStore("uploads", { keyPath: "upload_id" });
      db.createObjectStore("tasks", { keyPath: "id" });
      db.createObjectStore("seen", { keyPath: "outbox_id" });
      db.createObjectStore("meta", { keyPath: "key" });
    };
    return new FieldDb(await promised(request));
  }

  constructor(db) {
    this.db = db;
  }

  async get(store, key) {
    return promised(this.db.transaction(store).objectStore(store).get(key));
  }

  async all(store) {
    return promised(this.db.transaction(store).objectStore(store).getAll());
  }

  async put(store, value) {
    const tx = this.db.transaction(store, "readwrite");
    tx.objectStore(store).put(value);
    await done(tx);
  }

  async delete(store, key) {
    const tx = this.db.transaction(store, "readwrite");
    tx.objectStore(store).delete(key);
    await done(tx);
  }

  async meta(key, fallback) {
    const row = await this.get("meta", key);
    return row === undefined ? fallback : row.value;
  }

  async setMeta(key, value) {
    await this.put("meta", { key, value });
  }

  /** Append to the offline queue; returns the item's id (queue order = send order). */
  async enqueue(item) {
    const tx = this.db.transaction("queue", "readwrite");
    const id = await promised(tx.objectStore("queue").add(item));
    await done(tx);
    return id;
  }

  /** The oldest queued item, or undefined. */
  async head() {
    const cursor = await promised(this.db.transaction("queue").objectStore("queue").openCursor());
    return cursor ? cursor.value : undefined;
  }

  async queueLength() {
    return promised(this.db.transaction("queue").objectStore("queue").count());
  }

  /** Drop the oldest positions beyond `keep`, so hours offline cannot fill the phone. */
  async trimPositions(keep) {
    const tx = this.db.transaction("queue", "readwrite");
    const index = tx.objectStore("queue").index("type");
    const keys = await promised(index.getAllKeys("position"));
    for (const key of keys.slice(0, Math.max(0, keys.length - keep))) {
      tx.objectStore("queue").delete(key);
    }
    await done(tx);
  }

  /** Record a delivery; false when this outbox entry was seen before (redelivery). */
  async markSeen(outboxId) {
    const tx = this.db.transaction("seen", "readwrite");
    const store = tx.objectStore("seen");
    const known = await promised(store.get(outboxId));
    if (known === undefined) store.put({ outbox_id: outboxId });
    await done(tx);
    return known === undefined;
  }

  async clear() {
    const names = Array.from(this.db.objectStoreNames);
    const tx = this.db.transaction(names, "readwrite");
    for (const name of names) tx.objectStore(name).clear();
    await done(tx);
  }
}
