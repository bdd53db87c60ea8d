import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import protobuf from "protobufjs";
import { crc32c } from "@node-rs/crc32";

/**
 * A TensorBoard event-file writer that needs no native TensorFlow: tfjs only writes event files
 * through tfjs-node, so trainers running on the cpu/wasm/webgpu backends use this instead.
 *
 * The file is a sequence of TFRecords, each holding one serialized `tensorboard.Event`.
 */

// The subset of the TensorFlow/TensorBoard protos we write. Field numbers are copied from
// event.proto, summary.proto, histogram.proto, tensor.proto and tensor_shape.proto; names and
// numbers must match those files exactly, fields we never set are simply left out.
const PROTO_SOURCE = `
syntax = "proto3";
package tensorboard;

message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
  }
}

message Summary {
  message Image {
    int32 height = 1;
    int32 width = 2;
    int32 colorspace = 3;
    bytes encoded_image_string = 4;
  }
  message Value {
    string tag = 1;
    SummaryMetadata metadata = 9;
    oneof value {
      float simple_value = 2;
      Image image = 4;
      HistogramProto histo = 5;
      TensorProto tensor = 8;
    }
  }
  repeated Value value = 1;
}

message SummaryMetadata {
  message PluginData {
    string plugin_name = 1;
    bytes content = 2;
  }
  PluginData plugin_data = 1;
}

message HistogramProto {
  double min = 1;
  double max = 2;
  double num = 3;
  double sum = 4;
  double sum_squares = 5;
  repeated double bucket_limit = 6 [packed = true];
  repeated double bucket = 7 [packed = true];
}

message TensorShapeProto {
  message Dim {
    int64 size = 1;
    string name = 2;
  }
  repeated Dim dim = 2;
}

message TensorProto {
  int32 dtype = 1;   // tensorflow.DataType enum; int32 has the same wire encoding
  TensorShapeProto tensor_shape = 2;
  repeated bytes string_val = 8;
}
`;

/** types.proto: DataType.DT_STRING */
const DT_STRING = 7;
const FILE_VERSION = "brain.Event:2";
/** Buffered bytes above which a write triggers a flush, so a long run never hoards memory. */
const AUTO_FLUSH_BYTES = 1 << 20;
const DEFAULT_HISTOGRAM_BUCKETS = 30;

const EventType = protobuf.parse(PROTO_SOURCE, { keepCase: true }).root.lookupType("tensorboard.Event");

/** CRC as stored in TFRecord framing: crc32c rotated right by 15 plus a constant (uint32). */
function maskedCrc(data: Uint8Array): number {
  const crc = crc32c(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** Frames `data` as one TFRecord: u64 length, masked crc of those 8 bytes, data, masked crc of data. */
function tfRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + 4 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc(data), 12 + data.length);
  return out;
}

interface Histogram {
  min: number;
  max: number;
  num: number;
  sum: number;
  sum_squares: number;
  bucket_limit: number[];
  bucket: number[];
}

/**
 * Equal-width buckets over [min, max]. As in TF, bucket i counts values in
 * [bucket_limit[i-1], bucket_limit[i]); the last bucket also holds max, and its limit is max
 * (TensorBoard reads the last bucket's right edge from `max` anyway).
 * Non-finite values (a diverging run) are left out rather than poisoning every bucket edge.
 */
function buildHistogram(values: ArrayLike<number>, buckets: number): Histogram {
  let min = Infinity, max = -Infinity, num = 0, sum = 0, sumSquares = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    num++;
    sum += v;
    sumSquares += v * v;
  }
  if (num === 0) {
    return { min: 0, max: 0, num: 0, sum: 0, sum_squares: 0, bucket_limit: [], bucket: [] };
  }
  if (min === max) {
    // A zero-width range cannot be split; one bucket holds everything.
    return { min, max, num, sum, sum_squares: sumSquares, bucket_limit: [max], bucket: [num] };
  }
  const width = (max - min) / buckets;
  const limits = Array.from({ length: buckets }, (_, i) => (i === buckets - 1 ? max : min + (i + 1) * width));
  const counts = new Array<number>(buckets).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    const b = Math.min(buckets - 1, Math.max(0, Math.floor((v - min) / width)));
    counts[b]++;
  }
  return { min, max, num, sum, sum_squares: sumSquares, bucket_limit: limits, bucket: counts };
}

function checkTag(tag: string): void {
  if (typeof tag !== "string" || tag.length === 0) throw new Error(`tensorboard: tag must be a non-empty string, got ${JSON.stringify(tag)}`);
}

function checkStep(step: number): void {
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`tensorboard: step must be a non-negative integer, got ${step}`);
}

function ioError(action: string, file: string, err: unknown): Error {
  const reason = err instanceof Error ? err.message : String(err);
  return new Error(`tensorboard: could not ${action} event file ${file}: ${reason}`, { cause: err });
}

export class SummaryWriter {
  /** Path of the event file this writer appends to. */
  readonly file: string;
  private fd: number | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(logDir: string) {
    try {
      fs.mkdirSync(logDir, { recursive: true });
    } catch (err) {
      throw new Error(`tensorboard: could not create log directory ${logDir}: ${(err as Error).message}`, { cause: err });
    }
    const base = path.join(logDir, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${os.hostname()}`);
    // Two writers started in the same second must not share a file: TensorBoard reads every
    // *tfevents* file in the folder, so a numeric suffix keeps both runs readable.
    let file = base;
    for (let n = 1; ; n++) {
      try {
        this.fd = fs.openSync(file, "wx", 0o644);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw ioError("create", file, err);
        file = `${base}.${n}`;
      }
    }
    this.file = file;
    try {
      this.writeEvent({ wall_time: Date.now() / 1000, file_version: FILE_VERSION });
      // Write the header now so TensorBoard sees a valid (if empty) run from the start.
      this.flush();
    } catch (err) {
      fs.closeSync(this.fd!);
      this.fd = undefined;
      throw err;
    }
  }

  scalar(tag: string, value: number, step: number): void {
    checkTag(tag);
    if (typeof value !== "number") throw new Error(`tensorboard: scalar ${tag} must be a number, got ${typeof value}`);
    this.writeSummary(step, { tag, simple_value: value });
  }

  histogram(tag: string, values: Float32Array | number[], step: number, buckets = DEFAULT_HISTOGRAM_BUCKETS): void {
    checkTag(tag);
    if (!Number.isInteger(buckets) || buckets < 1) throw new Error(`tensorboard: histogram ${tag} needs a positive integer bucket count, got ${buckets}`);
    this.writeSummary(step, { tag, histo: buildHistogram(values, buckets) });
  }

  /** `png` is an encoded PNG; channels 1..4 map to TF colorspaces grayscale, gray+alpha, RGB, RGBA. */
  image(tag: string, png: Uint8Array, width: number, height: number, channels: number, step: number): void {
    checkTag(tag);
    if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
      throw new Error(`tensorboard: image ${tag} has invalid size ${width}x${height}`);
    }
    if (!Number.isInteger(channels) || channels < 1 || channels > 4) {
      throw new Error(`tensorboard: image ${tag} must have 1 to 4 channels, got ${channels}`);
    }
    this.writeSummary(step, {
      tag,
      image: { height, width, colorspace: channels, encoded_image_string: png },
    });
  }

  /** Text plugin format: a scalar DT_STRING tensor tagged for the "text" plugin (its content, TextPluginData{version: 0}, is empty). */
  text(tag: string, text: string, step: number): void {
    checkTag(tag);
    this.writeSummary(step, {
      tag,
      metadata: { plugin_data: { plugin_name: "text", content: new Uint8Array(0) } },
      tensor: { dtype: DT_STRING, tensor_shape: {}, string_val: [Buffer.from(text, "utf8")] },
    });
  }

  /** Appends every buffered record to the file and fsyncs it. Throws an Error naming the file on disk failure. */
  flush(): void {
    const fd = this.openFd();
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    let written = 0;
    try {
      while (written < data.length) written += fs.writeSync(fd, data, written, data.length - written);
      fs.fsyncSync(fd);
    } catch (err) {
      // Keep exactly the unwritten tail, so a later flush resumes mid-record and the file stays well framed.
      this.pending = [data.subarray(written)];
      this.pendingBytes = data.length - written;
      throw ioError("write", this.file, err);
    }
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Flushes and closes the file. Further writes throw; closing again does nothing. */
  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    const fd = this.fd;
    this.fd = undefined;
    try {
      fs.closeSync(fd);
    } catch (err) {
      throw ioError("close", this.file, err);
    }
  }

  private openFd(): number {
    if (this.fd === undefined) throw new Error(`tensorboard: writer for ${this.file} is closed`);
    return this.fd;
  }

  private writeSummary(step: number, value: Record<string, unknown>): void {
    checkStep(step);
    this.writeEvent({ wall_time: Date.now() / 1000, step, summary: { value: [value] } });
  }

  private writeEvent(event: Record<string, unknown>): void {
    this.openFd();
    const bytes = EventType.encode(EventType.fromObject(event)).finish();
    const record = tfRecord(bytes);
    this.pending.push(record);
    this.pendingBytes += record.length;
    if (this.pendingBytes > AUTO_FLUSH_BYTES) this.flush();
  }
}
