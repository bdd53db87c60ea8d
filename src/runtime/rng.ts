// Seeded through xoroshiro128plusFromState rather than pure-rand's xoroshiro128plus(seed): see seedState.
import { xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";
import type { JumpableRandomGenerator } from "pure-rand/types/JumpableRandomGenerator";
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";

const TWO_PI = 2 * Math.PI;
const TWO_POW_M24 = 2 ** -24;

/**
 * Seeded random numbers for the generated trainers: xoroshiro128+ from pure-rand underneath,
 * with a JSON-serialisable state so that a resumed run draws exactly what the original would have.
 *
 * Every draw is a pure function of the state, using only integer ops, IEEE arithmetic and
 * Math.sqrt/log/cos/sin (V8 implements the latter three in software, identically on every
 * platform), so a given seed yields the same numbers on every run and machine.
 */
export class Rng {
  private readonly gen: JumpableRandomGenerator;

  /** `seed` is an unsigned 32-bit integer (0 <= seed < 2**32). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new RangeError(`Rng seed must be an integer in [0, 2^32), got ${seed}`);
    }
    this.gen = xoroshiro128plusFromState(seedState(seed));
  }

  /** Uniform in [0, 1), a multiple of 2^-53 (two 32-bit draws). */
  uniform(): number {
    return uniformFloat64(this.gen);
  }

  /** Uniform integer in [0, 2^32) (one draw). */
  uint32(): number {
    return this.gen.next() >>> 0;
  }

  /**
   * Standard normal by the Box-Muller transform: with u1 in (0, 1] and u2 in [0, 1) from two
   * uniform() calls, returns sqrt(-2 ln u1) * cos(2 pi u2). The sine twin is not cached, so the
   * state stays just the generator's and every call consumes exactly two uniforms.
   */
  normal(): number {
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(TWO_PI * u2);
  }

  /**
   * Fills `out` with values uniform in [lo, hi), one 32-bit draw per element (24 bits, a float32's
   * precision). A value that float32 rounding would push onto `hi` is stored as the float32 just below it.
   */
  fillUniform(out: Float32Array, lo: number, hi: number): Float32Array {
    if (!(hi > lo)) throw new RangeError(`fillUniform needs lo < hi, got [${lo}, ${hi})`);
    const span = hi - lo;
    const below = float32Below(hi);
    for (let i = 0; i < out.length; i++) {
      const v = Math.fround(lo + span * ((this.gen.next() >>> 8) * TWO_POW_M24));
      out[i] = v >= hi ? below : v;
    }
    return out;
  }

  /**
   * Fills `out` with normal(mean, std) values. Box-Muller pairs are used whole here (cos for
   * out[i], sin for out[i+1]); an odd final element takes the cos half alone, so a length-1 fill
   * equals mean + std * normal().
   */
  fillNormal(out: Float32Array, mean: number, std: number): Float32Array {
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - this.uniform()));
      const theta = TWO_PI * this.uniform();
      out[i] = mean + std * r * Math.cos(theta);
      if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(theta);
    }
    return out;
  }

  /**
   * Like fillNormal, but a standard-normal draw with |z| > 2 is discarded and redrawn, as
   * tf.truncatedNormal does, so every value lies within mean +/- 2 std. Both Box-Muller halves are
   * used in order; a half left over at the end of the call is dropped.
   */
  fillTruncatedNormal(out: Float32Array, mean: number, std: number): Float32Array {
    let spare = NaN; // unused sine half of the last pair, NaN when none
    for (let i = 0; i < out.length; ) {
      let z: number;
      if (!Number.isNaN(spare)) {
        z = spare;
        spare = NaN;
      } else {
        const r = Math.sqrt(-2 * Math.log(1 - this.uniform()));
        const theta = TWO_PI * this.uniform();
        z = r * Math.cos(theta);
        spare = r * Math.sin(theta);
      }
      if (z >= -2 && z <= 2) out[i++] = mean + std * z;
    }
    return out;
  }

  /** The generator's four 32-bit state words; `Rng.fromState` continues the exact same sequence. */
  getState(): number[] {
    return [...this.gen.getState()];
  }

  static fromState(state: number[]): Rng {
    if (
      !Array.isArray(state) ||
      state.length !== 4 ||
      !state.every((w) => Number.isInteger(w) && w >= -(2 ** 31) && w < 2 ** 32)
    ) {
      throw new TypeError(`Rng state must be four 32-bit integers, got ${JSON.stringify(state)}`);
    }
    if (state.every((w) => w === 0)) throw new TypeError("Rng state must not be all zero");
    const rng = Object.create(Rng.prototype) as Rng;
    (rng as unknown as { gen: JumpableRandomGenerator }).gen = xoroshiro128plusFromState(state.map((w) => w | 0));
    return rng;
  }
}

/**
 * Expands a 32-bit seed into xoroshiro's 128-bit state. pure-rand's own seeding puts the seed
 * almost verbatim into the state, so nearby seeds start with nearly equal draws (the first
 * uniform() is ~0.99999 for every small seed). Instead each word is murmur3's fmix32 of the seed
 * plus a distinct multiple of the golden ratio; fmix32 is a bijection, so at most one word can be
 * zero and the forbidden all-zero state cannot occur.
 */
function seedState(seed: number): number[] {
  const words: number[] = [];
  for (let k = 1; k <= 4; k++) words.push(fmix32((seed + Math.imul(k, 0x9e3779b9)) | 0));
  return words;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** The largest float32 strictly below `x`. */
function float32Below(x: number): number {
  const f = new Float32Array(1);
  const bits = new Int32Array(f.buffer);
  f[0] = x;
  // fround rounds to nearest, so when it lands on or above x the float32 one ulp lower is below x.
  if (f[0] >= x) {
    if (f[0] === 0) return -(2 ** -149);
    bits[0] += f[0] > 0 ? -1 : 1;
  }
  return f[0];
}

/**
 * A generator state (four 32-bit words, never all zero) from a string: the 128-bit hash cyrb128, so that
 * draws keyed by a string (`Run.augmentKey`) are a pure function of it and need no state of their own.
 */
export function keyState(key: string): number[] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < key.length; i++) {
    const k = key.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  const words = [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
  return words.every((w) => w === 0) ? [1, 0, 0, 0] : words;
}
