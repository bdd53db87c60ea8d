import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import protobuf from "protobufjs";
import { emptySum, productThreads, threadsSetting, type Blas, type BlasResult } from "./blas.ts";
import { firstLine, requireKoffi, type Koffi } from "./ffi.ts";

/**
 * MLAS, the matrix-product library inside ONNX Runtime, as ganc's BLAS where the machine has no
 * OpenBLAS, BLIS or MKL. ONNX Runtime's CPU build ships inside the npm package onnxruntime-node
 * (an optional dependency), so `npm install` alone brings it: the out-of-the-box case gets native,
 * multi-threaded products instead of wasm ones (bench/README.md, "MLAS").
 *
 * The library is reached through its C API with koffi, as blas.ts reaches OpenBLAS (the package's
 * own JavaScript binding copies every output into a new buffer and cannot stop its threads from
 * spinning). Each sgemm runs a one-node ONNX Gemm model: its inputs are tensors over the operands'
 * own bytes in the wasm heap, its output a tensor over C's bytes, so nothing is copied in or out.
 * C += A.B is the same node with C as its third input, aliased with the output: ONNX Runtime's Gemm
 * copies C into the output (here onto itself) and then has MLAS add the product to it.
 */

/** The onnxruntime-node release whose library this file drives. */
export const ORT_VERSION = "1.20.1";
/** ORT_API_VERSION of that release: the OrtApi table asked for. */
const ORT_API_VERSION = 20;

// The subset of onnx.proto (ONNX IR version 7) that a one-node Gemm model needs. Names and field
// numbers are copied from onnx/onnx.proto; fields never set are left out.
const ONNX_PROTO = `
syntax = "proto2";
package onnx;
message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional AttributeType type = 20;
}
message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
}
message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
}
message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}
message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}
message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

const FLOAT = 1; // TensorProto.DataType.FLOAT

/** onnx.ModelProto, parsed from ONNX_PROTO when the first model is made. */
let modelType: protobuf.Type | undefined;

/**
 * A one-node ONNX model: Y[m,n] = op(A) . op(B) (+ beta * C[m,n] when `beta` is not 0), every
 * dimension symbolic so that one session runs every shape.
 */
export function gemmModel(transA: boolean, transB: boolean, beta: number): Uint8Array {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType("onnx.ModelProto");
  const Model = modelType;
  const tensor = (name: string, dims: string[]) => ({
    name,
    type: { tensor_type: { elem_type: FLOAT, shape: { dim: dims.map((d) => ({ dim_param: d })) } } },
  });
  const inputs = [tensor("A", transA ? ["k", "m"] : ["m", "k"]), tensor("B", transB ? ["n", "k"] : ["k", "n"])];
  if (beta !== 0) inputs.push(tensor("C", ["m", "n"]));
  const model = {
    ir_version: 7,
    producer_name: "ganc",
    opset_import: [{ domain: "", version: 13 }],
    graph: {
      name: "sgemm",
      node: [
        {
          input: inputs.map((t) => t.name),
          output: ["Y"],
          name: "gemm",
          op_type: "Gemm",
          attribute: [
            { name: "transA", i: transA ? 1 : 0, type: 2 },
            { name: "transB", i: transB ? 1 : 0, type: 2 },
            { name: "alpha", f: 1, type: 1 },
            { name: "beta", f: beta, type: 1 },
          ],
        },
      ],
      input: inputs,
      output: [tensor("Y", ["m", "n"])],
    },
  };
  const err = Model.verify(model);
  if (err !== null) throw new Error(`ONNX model: ${err}`);
  return Model.encode(Model.create(model)).finish();
}

/**
 * Slots of the functions used in ONNX Runtime's OrtApi table (onnxruntime_c_api.h: the table only
 * ever grows at its end, so these hold for every later release).
 */
const SLOT = {
  GetErrorMessage: 2,
  CreateEnv: 3,
  CreateSessionFromArray: 8,
  Run: 9,
  CreateSessionOptions: 10,
  SetSessionExecutionMode: 13,
  DisableMemPattern: 17,
  DisableCpuMemArena: 19,
  SetSessionLogSeverityLevel: 22,
  SetSessionGraphOptimizationLevel: 23,
  SetIntraOpNumThreads: 24,
  SetInterOpNumThreads: 25,
  CreateTensorWithDataAsOrtValue: 49,
  CreateCpuMemoryInfo: 69,
  ReleaseStatus: 93,
  ReleaseValue: 96,
  ReleaseSessionOptions: 100,
  AddSessionConfigEntry: 130,
} as const;

const ORT_LOGGING_LEVEL_ERROR = 3;
const ORT_SEQUENTIAL = 0;
const ORT_DISABLE_ALL = 0;
const ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT = 1;
const OrtDeviceAllocator = 0;
const OrtMemTypeDefault = 0;

type Ptr = unknown;
type Fn = (...args: unknown[]) => unknown;

/** The library file inside onnxruntime-node for this platform, or why not. */
function libraryFile(): { ok: true; file: string; version: string } | { ok: false; reason: string } {
  const req = createRequire(import.meta.url);
  let pkg: string;
  let version: string;
  try {
    pkg = req.resolve("onnxruntime-node/package.json");
    version = (req(pkg) as { version: string }).version;
  } catch (err) {
    return { ok: false, reason: `the optional package onnxruntime-node is not installed (${firstLine(err)})` };
  }
  const name =
    process.platform === "win32"
      ? "onnxruntime.dll"
      : process.platform === "darwin"
        ? `libonnxruntime.${version}.dylib`
        : `libonnxruntime.so.${version}`;
  return { ok: true, file: path.join(path.dirname(pkg), "bin", "napi-v3", process.platform, process.arch, name), version };
}

/** The thread count for MLAS's products: GANC_BLAS_THREADS, or every core. */
function wantedThreads(env: NodeJS.ProcessEnv): number {
  return threadsSetting(env) ?? (typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length);
}

const STATUS = "void *"; // OrtStatus *: null where a call succeeded
const DECLS: Record<keyof typeof SLOT, string> = {
  GetErrorMessage: "const char *OrtGetErrorMessage(void *status)",
  CreateEnv: `${STATUS} OrtCreateEnv(int level, const char *logid, _Out_ void **out)`,
  CreateSessionFromArray: `${STATUS} OrtCreateSessionFromArray(void *env, const void *data, size_t len, void *options, _Out_ void **out)`,
  Run: `${STATUS} OrtRun(void *session, void *runOptions, const char **inputNames, void **inputs, size_t nIn, const char **outputNames, size_t nOut, void **outputs)`,
  CreateSessionOptions: `${STATUS} OrtCreateSessionOptions(_Out_ void **out)`,
  SetSessionExecutionMode: `${STATUS} OrtSetSessionExecutionMode(void *options, int mode)`,
  DisableMemPattern: `${STATUS} OrtDisableMemPattern(void *options)`,
  DisableCpuMemArena: `${STATUS} OrtDisableCpuMemArena(void *options)`,
  SetSessionLogSeverityLevel: `${STATUS} OrtSetSessionLogSeverityLevel(void *options, int level)`,
  SetSessionGraphOptimizationLevel: `${STATUS} OrtSetSessionGraphOptimizationLevel(void *options, int level)`,
  SetIntraOpNumThreads: `${STATUS} OrtSetIntraOpNumThreads(void *options, int n)`,
  SetInterOpNumThreads: `${STATUS} OrtSetInterOpNumThreads(void *options, int n)`,
  CreateTensorWithDataAsOrtValue: `${STATUS} OrtCreateTensorWithDataAsOrtValue(void *info, void *data, size_t len, const int64_t *shape, size_t rank, int type, _Out_ void **out)`,
  CreateCpuMemoryInfo: `${STATUS} OrtCreateCpuMemoryInfo(int allocator, int memType, _Out_ void **out)`,
  ReleaseStatus: "void OrtReleaseStatus(void *status)",
  ReleaseValue: "void OrtReleaseValue(void *value)",
  ReleaseSessionOptions: "void OrtReleaseSessionOptions(void *options)",
  AddSessionConfigEntry: `${STATUS} OrtAddSessionConfigEntry(void *options, const char *key, const char *value)`,
};

let declared: { GetApi: unknown; GetVersionString: unknown; api: Record<keyof typeof SLOT, unknown> } | undefined;

/** koffi's function types for the C API, declared once per process (koffi keeps type names). */
function types(koffi: Koffi): NonNullable<typeof declared> {
  if (declared === undefined) {
    const api = {} as Record<keyof typeof SLOT, unknown>;
    for (const key of Object.keys(DECLS) as (keyof typeof SLOT)[]) api[key] = koffi.proto(DECLS[key]);
    declared = {
      GetApi: koffi.proto("void *OrtGetApi(uint32_t version)"),
      GetVersionString: koffi.proto("const char *OrtGetVersionString()"),
      api,
    };
  }
  return declared;
}

/** One instance per library file: ONNX Runtime allows one environment per process. */
const instances = new Map<string, Ort>();

/** ONNX Runtime's C API, the part of it used here. */
class Ort {
  private readonly fns: Record<keyof typeof SLOT, Fn>;
  private readonly out: Ptr[] = [null];
  readonly env: Ptr;
  readonly cpu: Ptr;

  constructor(koffi: Koffi, file: string) {
    const t = types(koffi);
    const lib = koffi.load(file);
    const getApiBase = lib.func("void *OrtGetApiBase()") as () => Ptr;
    const base = koffi.decode(getApiBase(), "void *", 2) as Ptr[];
    const getApi = koffi.decode(base[0], t.GetApi) as (v: number) => Ptr;
    const getVersion = koffi.decode(base[1], t.GetVersionString) as () => string;
    const version = getVersion();
    if (version !== ORT_VERSION) throw new Error(`the library is ONNX Runtime ${version}, not ${ORT_VERSION}`);
    const api = getApi(ORT_API_VERSION);
    if (api === null) throw new Error(`it does not offer API version ${ORT_API_VERSION}`);
    const table = koffi.decode(api, "void *", Math.max(...Object.values(SLOT)) + 1) as Ptr[];
    const fns = {} as Record<keyof typeof SLOT, Fn>;
    for (const key of Object.keys(SLOT) as (keyof typeof SLOT)[]) fns[key] = koffi.decode(table[SLOT[key]], t.api[key]) as Fn;
    this.fns = fns;
    this.env = this.make(fns.CreateEnv, ORT_LOGGING_LEVEL_ERROR, "ganc");
    this.cpu = this.make(fns.CreateCpuMemoryInfo, OrtDeviceAllocator, OrtMemTypeDefault);
  }

  /** Throws ONNX Runtime's message where a call returned a status. */
  check(status: Ptr): void {
    if (status === null) return;
    const message = this.fns.GetErrorMessage(status) as string;
    this.fns.ReleaseStatus(status);
    throw new Error(`ONNX Runtime: ${message}`);
  }

  /** Calls a function whose last parameter is an output pointer, and returns what it wrote. */
  make(fn: Fn, ...args: unknown[]): Ptr {
    this.out[0] = null;
    this.check(fn(...args, this.out));
    return this.out[0];
  }

  session(model: Uint8Array, threads: number): Ptr {
    const f = this.fns;
    const options = this.make(f.CreateSessionOptions);
    try {
      this.check(f.SetIntraOpNumThreads(options, threads));
      this.check(f.SetInterOpNumThreads(options, 1));
      this.check(f.SetSessionExecutionMode(options, ORT_SEQUENTIAL));
      this.check(f.SetSessionGraphOptimizationLevel(options, ORT_DISABLE_ALL));
      this.check(f.DisableMemPattern(options));
      this.check(f.DisableCpuMemArena(options));
      this.check(f.SetSessionLogSeverityLevel(options, ORT_LOGGING_LEVEL_ERROR));
      // The pool's threads spin between runs by default, taking the core that the single-threaded
      // wasm kernels between products need.
      this.check(f.AddSessionConfigEntry(options, "session.intra_op.allow_spinning", "0"));
      return this.make(f.CreateSessionFromArray, this.env, model, model.byteLength, options);
    } finally {
      f.ReleaseSessionOptions(options);
    }
  }

  private readonly shape = new BigInt64Array(2);

  /** A float32 rows x cols tensor over data's own bytes (no copy). */
  tensor(data: Float32Array, rows: number, cols: number): Ptr {
    this.shape[0] = BigInt(rows);
    this.shape[1] = BigInt(cols);
    return this.make(this.fns.CreateTensorWithDataAsOrtValue, this.cpu, data, data.byteLength, this.shape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT);
  }

  run(session: Ptr, inputNames: string[], inputs: Ptr[], output: Ptr): void {
    this.check(this.fns.Run(session, null, inputNames, inputs, inputs.length, OUTPUT_NAMES, 1, [output]));
  }

  release(value: Ptr): void {
    if (value !== null) this.fns.ReleaseValue(value);
  }
}

const OUTPUT_NAMES = ["Y"];
const INPUTS_AB = ["A", "B"];
const INPUTS_ABC = ["A", "B", "C"];

/**
 * MLAS as a Blas, or why not. Loaded once per process by loadBlas (blas.ts). `file`: another
 * library file in place of the package's (tests).
 */
export function probeMlas(env: NodeJS.ProcessEnv, file?: string): BlasResult {
  const pkg = libraryFile();
  const found = pkg.ok && file !== undefined ? { ...pkg, file } : pkg;
  if (!found.ok) return found;
  const k = requireKoffi();
  if (!k.ok) return k;
  const fail = (err: unknown): BlasResult => ({ ok: false, reason: `onnxruntime-node ${found.version} could not be used: ${found.file}: ${firstLine(err)}` });
  let ort = instances.get(found.file);
  if (ort === undefined) {
    try {
      ort = new Ort(k.koffi, found.file);
    } catch (err) {
      return fail(err);
    }
    instances.set(found.file, ort);
  }
  const blas = mlasBlas(ort, found.file, `MLAS (onnxruntime-node ${found.version})`, wantedThreads(env));
  try {
    // One product now, so that a library that cannot run one is a reason here rather than a crash later.
    const y = new Float32Array(1);
    blas.sgemm(false, false, 1, 1, 1, Float32Array.of(2), 1, Float32Array.of(3), 1, 0, y, 1);
    if (y[0] !== 6) throw new Error(`a 1x1 product gave ${y[0]} instead of 6`);
  } catch (err) {
    return fail(err);
  }
  return { ok: true, blas };
}

/** sgemm as Gemm nodes, one session per kind of call (transposes, beta), made when first needed. */
function mlasBlas(ort: Ort, file: string, name: string, threads: number): Blas {
  const sessions = new Map<string, Ptr>();
  const session = (transA: boolean, transB: boolean, beta: number, n: number): Ptr => {
    const key = `${transA ? "T" : "N"}${transB ? "T" : "N"}${beta}/${n}`;
    let s = sessions.get(key);
    if (s === undefined) {
      s = ort.session(gemmModel(transA, transB, beta), n);
      sessions.set(key, s);
    }
    return s;
  };
  return {
    name,
    file,
    threads,
    sgemm(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc) {
      if (m === 0 || n === 0) return;
      if (k === 0) return emptySum(m, n, beta, c, ldc);
      // Small products on one thread, as on OpenBLAS (blas.ts: waking a second thread costs more than it saves).
      const s = session(transA, transB, beta, productThreads(threads, m, n, k));
      const A = dense(a, transA ? k : m, transA ? m : k, lda);
      const B = dense(b, transB ? n : k, transB ? k : n, ldb);
      const direct = ldc === n;
      const Y = direct ? c.subarray(0, m * n) : dense(c, m, n, ldc);
      const inputs: Ptr[] = [];
      let y: Ptr = null;
      try {
        inputs.push(ort.tensor(A, transA ? k : m, transA ? m : k));
        inputs.push(ort.tensor(B, transB ? n : k, transB ? k : n));
        if (beta !== 0) inputs.push(ort.tensor(Y, m, n));
        y = ort.tensor(Y, m, n);
        ort.run(s, beta !== 0 ? INPUTS_ABC : INPUTS_AB, inputs, y);
      } finally {
        for (const v of inputs) ort.release(v);
        ort.release(y);
      }
      if (!direct) for (let i = 0; i < m; i++) c.set(Y.subarray(i * n, i * n + n), i * ldc);
    },
  };
}

/** rows x cols of x with row stride ld, as a dense array (the view itself where it already is one). */
function dense(x: Float32Array, rows: number, cols: number, ld: number): Float32Array {
  if (ld === cols) return x.subarray(0, rows * cols);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) out.set(x.subarray(i * ld, i * ld + cols), i * cols);
  return out;
}
