import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { PropertyMap, recordsOnDataIds } from "../../src/runtime/data-storage.ts";

describe("tfjs's buffer records as properties of the dataIds", () => {
  it("PropertyMap behaves as the WeakMap it replaces, and still answers for what that WeakMap held", () => {
    const before = new WeakMap<object, { n: number }>();
    const old = {};
    before.set(old, { n: 0 });
    const m = new PropertyMap(before);
    const a = { id: 1 };
    const frozen = Object.freeze({ id: 2 });
    expect(m.has(a)).toBe(false);
    expect(m.get(a)).toBeUndefined();
    m.set(a, { n: 1 });
    m.set(frozen, { n: 2 });
    expect(m.get(a)).toEqual({ n: 1 });
    expect(m.get(frozen)).toEqual({ n: 2 }); // kept in the WeakMap
    expect(m.get(old)).toEqual({ n: 0 });
    expect([m.has(a), m.has(frozen), m.has(old)]).toEqual([true, true, true]);
    // the record is under a symbol: the dataId's own keys and JSON are unchanged
    expect(Object.keys(a)).toEqual(["id"]);
    expect(JSON.stringify(a)).toBe('{"id":1}');
    expect([m.delete(a), m.delete(frozen), m.delete(old), m.delete(a)]).toEqual([true, true, true, false]);
    expect([m.has(a), m.has(frozen), m.has(old)]).toEqual([false, false, false]);
    // two maps on the same key do not see each other's records
    const other = new PropertyMap<object, { n: number }>();
    m.set(a, { n: 3 });
    expect(other.has(a)).toBe(false);
    other.set(a, { n: 4 });
    expect(m.get(a)).toEqual({ n: 3 });
  });

  it("on the wasm backend, tensors and variables read back, and disposing frees every record", async () => {
    await selectBackend("wasm", { log: () => {} });
    const backend = tf.backend() as unknown as { dataIdMap: { data: unknown; numDataIds(): number } };
    // selectBackend switched both; again is a no-op
    expect(backend.dataIdMap.data).toBeInstanceOf(PropertyMap);
    expect((tf.engine() as unknown as { state: { tensorInfo: unknown } }).state.tensorInfo).toBeInstanceOf(PropertyMap);
    expect(recordsOnDataIds(tf.backend(), tf.engine())).toBe(0);
    const start = { ...tf.memory(), ids: backend.dataIdMap.numDataIds() };
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const y = tf.tidy(() => tf.relu(tf.matMul(x, x).sub(10)));
    expect(Array.from(y.dataSync())).toEqual([0, 0, 5, 12]);
    const init = tf.ones([3]);
    const next = tf.tensor1d([4, 5, 6]);
    const v = tf.variable(init);
    v.assign(next);
    expect(Array.from(v.dataSync())).toEqual([4, 5, 6]);
    tf.dispose([x, y, v, init, next]);
    const end = { ...tf.memory(), ids: backend.dataIdMap.numDataIds() };
    expect([end.numTensors, end.numDataBuffers, end.numBytes, end.ids]).toEqual([start.numTensors, start.numDataBuffers, start.numBytes, start.ids]);
  });
});
