import { firstLine, isOff, namesFile, openMpThreads, requireKoffi, withOpenMpSettings, type Koffi, type KoffiLib } from "./ffi.ts";
import type { Geometry } from "./blas_kernels.ts";

/**
 * oneDNN (Intel's deep-learning primitives, libdnnl.so.2: Debian's libdnnl2, which PyTorch's CPU build runs its
 * convolutions on) reached through koffi, as blas.ts reaches OpenBLAS. Optional: where it loads, the wasm
 * backend's BLAS convolution kernels (blas_kernels.ts) run the convolution itself, and its two gradients, as
 * oneDNN primitives on the tensors' own bytes in the wasm heap: NHWC activations as they lie, the HWIO filter
 * reordered per call into the layout the primitive chose (a few thousand values). Per call on the reduced
 * sngan_resnet's shapes it is 3-4.5x faster than im2col and sgemm (bench/README.md, "oneDNN convolutions").
 *
 * GANC_DNNL=off disables it; GANC_DNNL=<file> loads that library instead of libdnnl.so.2. Only oneDNN 2.x's C
 * API is bound (3.x changed how descriptors are made); another major version is reported and not used.
 */
export interface Dnnl {
  /** e.g. "oneDNN 2.6.3" */
  name: string;
  file: string;
  /**
   * y = conv(x, W) (+ bias): x [n, h, w, cin], W [kh, kw, cin, cout], y [n, oh, ow, cout], bias [cout] added by the
   * primitive as it writes y. False (y untouched) where oneDNN could not make the primitive for this shape: the
   * caller computes it another way.
   */
  forward(s: ConvShape, x: Float32Array, w: Float32Array, y: Float32Array, bias?: Float32Array | null): boolean;
  /** dx = the input gradient from dy [n, oh, ow, cout] and W; false as forward. */
  backwardData(s: ConvShape, dy: Float32Array, w: Float32Array, dx: Float32Array): boolean;
  /** dW [kh, kw, cin, cout] = the filter gradient from x and dy; false as forward. */
  backwardWeights(s: ConvShape, x: Float32Array, dy: Float32Array, dw: Float32Array): boolean;
}

/** A convolution as oneDNN describes it: the kernels' geometry, its output channels, and the padding on the bottom and right (>= 0). */
export type ConvShape = Geometry & { cout: number; bottom: number; right: number };

export type DnnlResult = { ok: true; dnnl: Dnnl } | { ok: false; reason: string };

// oneDNN 2.x constants (dnnl_types.h)
const F32 = 3;
const CPU_ENGINE = 1;
const FORWARD_TRAINING = 64;
const CONVOLUTION_DIRECT = 1;
const FORMAT_ANY = 1;
const RUNTIME_OMP = 2;
const STREAM_IN_ORDER = 1;
const QUERY_EXEC_ARG_MD = 255;
const ARG_SRC = 1;
const ARG_DST = 17;
const ARG_WEIGHTS = 33;
const ARG_BIAS = 41;
const ARG_DIFF_SRC = 129;
const ARG_DIFF_DST = 145;
const ARG_DIFF_WEIGHTS = 161;
/** Bytes for a dnnl_memory_desc_t (about 700 in 2.x) and a dnnl_convolution_desc_t (about 3,000): room to spare. */
const MD_BYTES = 4096;
const OP_DESC_BYTES = 32768;

let cached: DnnlResult | undefined;

/** Loads oneDNN once per process (the answer, with the reason when there is none, is cached). */
export function loadDnnl(env: NodeJS.ProcessEnv = process.env): DnnlResult {
  if (cached === undefined) cached = probeDnnl(env);
  return cached;
}

/** What loadDnnl would answer for `env`, without the cache. */
export function probeDnnl(env: NodeJS.ProcessEnv): DnnlResult {
  const setting = (env.GANC_DNNL ?? "").trim();
  if (isOff(setting)) return { ok: false, reason: "turned off by GANC_DNNL" };
  const found = requireKoffi();
  if (!found.ok) return found;
  const koffi = found.koffi;
  const file = namesFile(setting) ? setting : "libdnnl.so.2";
  let lib: KoffiLib;
  try {
    lib = withOpenMpSettings(() => koffi.load(file));
  } catch (err) {
    return { ok: false, reason: `no oneDNN library (${file}: ${firstLine(err)}; Debian: apt-get install libdnnl2)` };
  }
  try {
    return { ok: true, dnnl: bind(koffi, lib, file) };
  } catch (err) {
    return { ok: false, reason: `${file} could not be used: ${firstLine(err)}` };
  }
}

type Fn = (...args: unknown[]) => unknown;

/**
 * For a oneDNN built on OpenMP: a function that puts the calling thread's OpenMP thread count back to what it
 * was when oneDNN loaded, where something changed it since. OpenBLAS's OpenMP build sets that count itself
 * (openblas_set_num_threads calls omp_set_num_threads), and blas.ts runs small products on one thread; oneDNN
 * reads the same count when it makes a primitive and when it runs one, so without this every convolution after
 * a small product ran on one thread (the reduced sngan_resnet: 740 -> 650 ms an iteration, bench/README.md).
 * One call through koffi per convolution where nothing changed; what it set is left in openMpThreads (ffi.ts)
 * for blas.ts. Null where no OpenMP library answers.
 */
function fullOpenMpThreads(koffi: Koffi): (() => void) | null {
  for (const file of ["libgomp.so.1", "libiomp5.so", "libomp.so"]) {
    let lib: KoffiLib;
    try {
      lib = koffi.load(file);
    } catch {
      continue;
    }
    try {
      const get = lib.func("int omp_get_max_threads()") as () => number;
      const set = lib.func("void omp_set_num_threads(int n)") as (n: number) => void;
      const full = get();
      return () => {
        if (get() !== full) set(full);
        openMpThreads.last = full;
      };
    } catch {
      return null;
    }
  }
  return null;
}
type Handle = unknown;

/** The primitives of one convolution shape and kind, made once and run with new data handles each call. */
interface Prepared {
  run(a: Float32Array, b: Float32Array, c: Float32Array, bias?: Float32Array): void;
}

function bind(koffi: Koffi, lib: KoffiLib, file: string): Dnnl {
  const f = (decl: string): Fn => lib.func(decl) as Fn;
  const Version = koffi.struct("ganc_dnnl_version_t", { major: "int", minor: "int", patch: "int", hash: "const char *", cpu_runtime: "unsigned int", gpu_runtime: "unsigned int" });
  const version = koffi.decode(f("const ganc_dnnl_version_t *dnnl_version()")(), Version) as { major: number; minor: number; patch: number; cpu_runtime: number };
  if (version.major !== 2) throw new Error(`oneDNN ${version.major}.${version.minor}: only the 2.x API is bound`);
  const fullThreads = version.cpu_runtime === RUNTIME_OMP ? fullOpenMpThreads(koffi) : null;
  const engineCreate = f("int dnnl_engine_create(_Out_ void **engine, int kind, size_t index)");
  const streamCreate = f("int dnnl_stream_create(_Out_ void **stream, void *engine, unsigned int flags)");
  const mdByStrides = f("int dnnl_memory_desc_init_by_strides(void *md, int ndims, const int64_t *dims, int dt, const int64_t *strides)");
  const mdByTag = f("int dnnl_memory_desc_init_by_tag(void *md, int ndims, const int64_t *dims, int dt, int tag)");
  const mdSize = f("size_t dnnl_memory_desc_get_size(const void *md)");
  const convForward = f(
    "int dnnl_dilated_convolution_forward_desc_init(void *desc, int prop, int alg, const void *src, const void *weights, const void *bias, const void *dst, const int64_t *strides, const int64_t *dilates, const int64_t *pl, const int64_t *pr)",
  );
  const convBackwardData = f(
    "int dnnl_dilated_convolution_backward_data_desc_init(void *desc, int alg, const void *diff_src, const void *weights, const void *diff_dst, const int64_t *strides, const int64_t *dilates, const int64_t *pl, const int64_t *pr)",
  );
  const convBackwardWeights = f(
    "int dnnl_dilated_convolution_backward_weights_desc_init(void *desc, int alg, const void *src, const void *diff_weights, const void *diff_bias, const void *diff_dst, const int64_t *strides, const int64_t *dilates, const int64_t *pl, const int64_t *pr)",
  );
  const pdCreate = f("int dnnl_primitive_desc_create(_Out_ void **pd, const void *op, const void *attr, void *engine, const void *hint)");
  const queryMd = f("const void *dnnl_primitive_desc_query_md(const void *pd, int what, int index)");
  const primitiveCreate = f("int dnnl_primitive_create(_Out_ void **primitive, const void *pd)");
  const memoryCreate = f("int dnnl_memory_create(_Out_ void **memory, const void *md, void *engine, void *handle)");
  const setHandle = f("int dnnl_memory_set_data_handle(void *memory, void *handle)");
  const reorderPd = f("int dnnl_reorder_primitive_desc_create(_Out_ void **pd, const void *src, void *src_engine, const void *dst, void *dst_engine, const void *attr)");
  koffi.struct("ganc_dnnl_exec_arg_t", { arg: "int", memory: "void *" });
  const execute = f("int dnnl_primitive_execute(const void *primitive, void *stream, int nargs, const ganc_dnnl_exec_arg_t *args)");
  const wait = f("int dnnl_stream_wait(void *stream)");

  const check = (status: unknown, what: string): void => {
    if (status !== 0) throw new Error(`oneDNN ${what} failed (status ${String(status)})`);
  };
  const made = (what: string, call: (out: Handle[]) => unknown): Handle => {
    const out: Handle[] = [null];
    check(call(out), what);
    return out[0];
  };
  const engine = made("engine", (o) => engineCreate(o, CPU_ENGINE, 0));
  const stream = made("stream", (o) => streamCreate(o, engine, STREAM_IN_ORDER));
  const dims = (...v: number[]) => BigInt64Array.from(v.map((x) => BigInt(x)));

  /** Memory descriptors of the NHWC activations, the HWIO filter, and "any" filter for the primitive to choose. */
  const descriptors = (s: ConvShape) => {
    const md = () => new Uint8Array(MD_BYTES);
    const src = md();
    const dst = md();
    const hwio = md();
    const any = md();
    const bias = md();
    check(mdByStrides(bias, 1, dims(s.cout), F32, dims(1)), "memory_desc(bias)");
    check(mdByStrides(src, 4, dims(s.n, s.cin, s.h, s.w), F32, dims(s.h * s.w * s.cin, 1, s.w * s.cin, s.cin)), "memory_desc(src)");
    check(mdByStrides(dst, 4, dims(s.n, s.cout, s.oh, s.ow), F32, dims(s.oh * s.ow * s.cout, 1, s.ow * s.cout, s.cout)), "memory_desc(dst)");
    check(mdByStrides(hwio, 4, dims(s.cout, s.cin, s.kh, s.kw), F32, dims(1, s.cout, s.kw * s.cin * s.cout, s.cin * s.cout)), "memory_desc(weights)");
    check(mdByTag(any, 4, dims(s.cout, s.cin, s.kh, s.kw), F32, FORMAT_ANY), "memory_desc(any weights)");
    const geometry = [dims(s.sh, s.sw), dims(s.dh - 1, s.dw - 1), dims(s.top, s.left), dims(s.bottom, s.right)] as const;
    return { src, dst, hwio, any, bias, geometry };
  };
  const memory = (md: unknown) => made("memory", (o) => memoryCreate(o, md, engine, null));
  const primitive = (pd: Handle) => made("primitive", (o) => primitiveCreate(o, pd));
  const forwardHint = (d: ReturnType<typeof descriptors>) => {
    const desc = new Uint8Array(OP_DESC_BYTES);
    check(FORWARD.init(desc, d), "convolution_forward_desc");
    return made("forward primitive_desc", (o) => pdCreate(o, desc, null, engine, null));
  };
  /** A reorder between two layouts of the filter, and a scratch for the primitive's layout. */
  const filterReorder = (from: unknown, to: unknown) => ({
    primitive: primitive(made("reorder primitive_desc", (o) => reorderPd(o, from, engine, to, engine, null))),
    from: memory(from),
    to: memory(to),
  });
  /** Whether a filter reorder moves nothing: the same size, and 0, 1, 2, ... come out where they went in. */
  const isCopy = (reorder: ReturnType<typeof filterReorder>, packed: Float32Array, hwioLength: number): boolean => {
    if (packed.length !== hwioLength) return false;
    const from = Float32Array.from({ length: hwioLength }, (_, i) => i);
    const to = new Float32Array(hwioLength);
    run(reorder.primitive, [[ARG_SRC, reorder.from, from], [ARG_DST, reorder.to, to]]);
    check(wait(stream), "stream_wait");
    return to.every((v, i) => v === i);
  };
  const run = (prim: Handle, args: [number, Handle, Float32Array][]): void => {
    for (const [, mem, data] of args) check(setHandle(mem, data), "set_data_handle");
    check(execute(prim, stream, args.length, args.map(([arg, mem]) => ({ arg, memory: mem }))), "primitive_execute");
  };

  /**
   * One kind of convolution primitive: its op descriptor from the shape's memory descriptors, and the oneDNN
   * argument of each of its call's three operands (activation, filter or activation, result). The filter is
   * operand 1 when it is an input (reordered into the primitive's layout first) and operand 2 when it is the
   * result (reordered out of it after).
   */
  interface Kind {
    init(desc: Uint8Array, d: ReturnType<typeof descriptors>): unknown;
    /** Whether the primitive takes a bias (forward only): one more operand, added to the result. */
    bias?: boolean;
    /** Forward primitives need no hint; the backward ones take the forward one's. */
    hinted: boolean;
    args: [number, number, number];
    filterOut: boolean;
    /** The memory descriptors of the activation operands, in operand order. */
    activations(d: ReturnType<typeof descriptors>): [unknown, unknown];
  }
  const prepare = (kind: Kind, s: ConvShape): Prepared => {
    const d = descriptors(s);
    const desc = new Uint8Array(OP_DESC_BYTES);
    check(kind.init(desc, d), "convolution descriptor");
    const pd = made("primitive_desc", (o) => pdCreate(o, desc, null, engine, kind.hinted ? forwardHint(d) : null));
    const filterArg = kind.args[kind.filterOut ? 2 : 1];
    const wMd = queryMd(pd, QUERY_EXEC_ARG_MD, filterArg);
    const reorder = kind.filterOut ? filterReorder(wMd, d.hwio) : filterReorder(d.hwio, wMd);
    const packed = new Float32Array(Math.ceil(Number(mdSize(wMd)) / 4));
    // Where the primitive's filter layout is HWIO's own bytes (O a single block of 16, 32 or 64: Acdb64a for
    // a 64-channel output), the reorder is a copy; the primitive then reads or writes the filter where it lies.
    const copy = isCopy(reorder, packed, Number(mdSize(d.hwio)) / 4);
    const conv = primitive(pd);
    const [mdA, mdB] = kind.activations(d);
    const memA = memory(mdA);
    const memB = memory(mdB);
    const memBias = kind.bias ? memory(d.bias) : null;
    const [argA, argB, argC] = kind.args;
    return {
      run(a, b, c, bias) {
        if (kind.filterOut) {
          run(conv, [[argA, memA, a], [argB, memB, b], [argC, reorder.from, copy ? c : packed]]);
          if (!copy) run(reorder.primitive, [[ARG_SRC, reorder.from, packed], [ARG_DST, reorder.to, c]]);
        } else {
          if (!copy) run(reorder.primitive, [[ARG_SRC, reorder.from, b], [ARG_DST, reorder.to, packed]]);
          const biasArg: [number, Handle, Float32Array][] = memBias === null ? [] : [[ARG_BIAS, memBias, bias!]];
          run(conv, [[argA, memA, a], [argB, reorder.to, copy ? b : packed], ...biasArg, [argC, memB, c]]);
        }
        check(wait(stream), "stream_wait");
      },
    };
  };
  const FORWARD: Kind = {
    init: (desc, d) => convForward(desc, FORWARD_TRAINING, CONVOLUTION_DIRECT, d.src, d.any, null, d.dst, ...d.geometry),
    hinted: false,
    args: [ARG_SRC, ARG_WEIGHTS, ARG_DST],
    filterOut: false,
    activations: (d) => [d.src, d.dst],
  };
  const FORWARD_BIAS: Kind = { ...FORWARD, bias: true, init: (desc, d) => convForward(desc, FORWARD_TRAINING, CONVOLUTION_DIRECT, d.src, d.any, d.bias, d.dst, ...d.geometry) };
  const BACKWARD_DATA: Kind = {
    init: (desc, d) => convBackwardData(desc, CONVOLUTION_DIRECT, d.src, d.any, d.dst, ...d.geometry),
    hinted: true,
    args: [ARG_DIFF_DST, ARG_WEIGHTS, ARG_DIFF_SRC],
    filterOut: false,
    activations: (d) => [d.dst, d.src],
  };
  const BACKWARD_WEIGHTS: Kind = {
    init: (desc, d) => convBackwardWeights(desc, CONVOLUTION_DIRECT, d.src, d.any, null, d.dst, ...d.geometry),
    hinted: true,
    args: [ARG_SRC, ARG_DIFF_DST, ARG_DIFF_WEIGHTS],
    filterOut: true,
    activations: (d) => [d.src, d.dst],
  };

  // Made once per shape and kind (a trainer has a few dozen), kept for the process; null where oneDNN has no
  // implementation for it (the kernels then take their own path for that shape).
  const prepared = new Map<string, Prepared | null>();
  const run3 = (kind: Kind, s: ConvShape, a: Float32Array, b: Float32Array, c: Float32Array, bias?: Float32Array): boolean => {
    const key = `${kind.args.join(",")}${kind.bias ? "+bias" : ""}:${s.n},${s.h},${s.w},${s.cin},${s.oh},${s.ow},${s.cout},${s.kh},${s.kw},${s.sh},${s.sw},${s.dh},${s.dw},${s.top},${s.left},${s.bottom},${s.right}`;
    fullThreads?.();
    let p = prepared.get(key);
    if (p === undefined) {
      try {
        p = prepare(kind, s);
      } catch {
        p = null;
      }
      prepared.set(key, p);
    }
    if (p === null) return false;
    p.run(a, b, c, bias);
    return true;
  };
  return {
    name: `oneDNN ${version.major}.${version.minor}.${version.patch}`,
    file,
    forward: (s, x, w, y, bias) => (bias ? run3(FORWARD_BIAS, s, x, w, y, bias) : run3(FORWARD, s, x, w, y)),
    backwardData: (s, dy, w, dx) => run3(BACKWARD_DATA, s, dy, w, dx),
    backwardWeights: (s, x, dy, dw) => run3(BACKWARD_WEIGHTS, s, x, dy, dw),
  };
}
