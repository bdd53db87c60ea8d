/**
 * tfjs keeps its per-buffer records in WeakMaps keyed by the buffer's dataId object: each backend's
 * DataStorage (the buffer's place on the backend) and the engine's tensorInfo (its size and owner).
 * A small net's iteration makes a hundred buffers or more, and a WeakMap insertion costs more than a
 * small kernel around it (DataStorage.set was the largest item after sgemm in ring8's profile,
 * bench/README.md). `PropertyMap` is a drop-in for those WeakMaps that keeps the record as a property
 * of the dataId object under a symbol of its own: the record lives exactly as long as the WeakMap
 * entry would (until deleted, or until the dataId is collected), and reading it is a property load.
 * Records made before the switch stay in the old WeakMap, which is still consulted for them.
 */
export class PropertyMap<K extends object, V> {
  private readonly key = Symbol("ganc.record");

  constructor(private readonly before: WeakMap<K, V> = new WeakMap()) {}

  get(k: K): V | undefined {
    const v = (k as Record<symbol, V | undefined>)[this.key];
    return v !== undefined ? v : this.before.get(k);
  }

  has(k: K): boolean {
    return (k as Record<symbol, V | undefined>)[this.key] !== undefined || this.before.has(k);
  }

  set(k: K, v: V): this {
    // values are records (objects), never undefined; a frozen key keeps its record in the WeakMap
    if (v !== undefined && Object.isExtensible(k)) (k as Record<symbol, V | undefined>)[this.key] = v;
    else this.before.set(k, v);
    return this;
  }

  delete(k: K): boolean {
    if ((k as Record<symbol, V | undefined>)[this.key] !== undefined) {
      (k as Record<symbol, V | undefined>)[this.key] = undefined;
      return true;
    }
    return this.before.delete(k);
  }
}

/**
 * Puts the records of `backend`'s DataStorage and of the engine's tensorInfo on the dataIds (see
 * above). Returns how many of the two it switched (0 where tfjs is not laid out as expected).
 */
export function recordsOnDataIds(backend: unknown, engine: unknown): number {
  let switched = 0;
  const storage = (backend as { dataIdMap?: { data?: unknown } } | null)?.dataIdMap;
  if (storage != null && storage.data instanceof WeakMap) {
    storage.data = new PropertyMap(storage.data);
    switched++;
  }
  const state = (engine as { state?: { tensorInfo?: unknown } } | null)?.state;
  if (state != null && state.tensorInfo instanceof WeakMap) {
    state.tensorInfo = new PropertyMap(state.tensorInfo);
    switched++;
  }
  return switched;
}
