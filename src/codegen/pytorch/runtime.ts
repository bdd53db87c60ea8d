/*
 * The Python runtime every PyTorch trainer carries below its own code (vendored, so that the trainer needs
 * PyTorch and NumPy alone): ganc's seeded generator ported draw for draw, the data iterator, TensorFlow.js's
 * optimizer updates, the layout helpers, the spec language's functions, ganc's checkpoint format, and the run
 * loop's cadence. Python source in a raw template string: no backticks and no dollar-brace in it.
 */

export const PY_RUNTIME = String.raw`# ---------------------------------------------------------------------------------------------------------
# The runtime this trainer needs, vendored so that it runs with PyTorch (>= 1.13) and NumPy alone. It is the
# same in every trainer ganc writes: seeded random numbers (the generator ganc's TypeScript trainers use,
# ported draw for draw), data batches in the same order, the optimizers' update rules as TensorFlow.js
# computes them, and ganc's checkpoint format.
# ---------------------------------------------------------------------------------------------------------

M32 = 0xFFFFFFFF


def _i32(x):
    """The signed 32-bit integer of the low 32 bits of x (JavaScript's x | 0)."""
    x &= M32
    return x - 0x100000000 if x & 0x80000000 else x


def _imul(a, b):
    return _i32((a & M32) * (b & M32))


def mix32(h):
    """murmur3's 32-bit finaliser, as ganc's data iterator uses it (a signed 32-bit result)."""
    h &= M32
    h = _imul(h ^ (h >> 16), 0x85EBCA6B) & M32
    h = _imul(h ^ (h >> 13), 0xC2B2AE35) & M32
    return _i32(h ^ (h >> 16))


class Xoroshiro128Plus:
    """
    xoroshiro128+ on four 32-bit words, as pure-rand 8 lays them out (s01, s00, s11, s10).

    Requests of moderate size (a batch's noise) are served from draws made AHEAD at a time by raw_blocks: the
    same numbers in the same order, but one call, mostly on warm caches, every few iterations instead of a
    cold one per batch (on ring8, 125 us of a 1.5 ms iteration went to its 2,048 draws). self.s is always the
    state after the draws taken so far: reading it settles the draws made ahead (a jump over the taken ones),
    setting it drops them.
    """

    AHEAD = 1 << 15

    def __init__(self, s01, s00, s11, s10):
        self.s = [s01 & M32, s00 & M32, s11 & M32, s10 & M32]

    @property
    def s(self):
        if self._ahead is not None:
            buf, taken, base, end = self._ahead
            self._ahead = None
            self._s = end if taken == len(buf) else _words(_advance(_state(base), taken))
        return self._s

    @s.setter
    def s(self, words):
        self._ahead = None  # (buffer, taken, the state before it, the state after it)
        self._s = list(words)

    @staticmethod
    def from_seed(seed):
        """pure-rand's xoroshiro128plus(seed): the state (-1, ~seed, seed, 0)."""
        return Xoroshiro128Plus(-1, ~seed, seed, 0)

    def next(self):
        """The next output as a signed 32-bit integer."""
        if self._ahead is not None:
            return _i32(int(self._take(1)[0]))
        s01, s00, s11, s10 = self._s
        out = (s00 + s10) & M32
        a0 = s10 ^ s00
        a1 = s11 ^ s01
        n00 = ((s00 << 24) & M32) ^ (s01 >> 8) ^ a0 ^ ((a0 << 16) & M32)
        n01 = ((s01 << 24) & M32) ^ (s00 >> 8) ^ a1 ^ (((a1 << 16) & M32) | (a0 >> 16))
        n10 = ((a1 << 5) & M32) ^ (a0 >> 27)
        n11 = ((a0 << 5) & M32) ^ (a1 >> 27)
        self._s = [n01, n00, n11, n10]
        return out - 0x100000000 if out & 0x80000000 else out

    def raw(self, n):
        """
        n outputs as unsigned 32-bit integers (a NumPy array): the generator's inner loop on the two 64-bit
        halves of the state (s0 = s01:s00, s1 = s11:s10), which is xoroshiro128+ (24, 16, 37) as usually
        written; the output is the low 32 bits of s0 + s1. Half the operations of the 32-bit words' loop.
        Longer runs come from draws made ahead, or go by blocks of precomputed draws (raw_blocks): the same
        numbers, many times faster.
        """
        if self._ahead is not None or 128 <= n <= self.AHEAD // 4:
            return self._take(n)
        if n >= 128:
            return raw_blocks(self, n)
        s01, s00, s11, s10 = self._s
        s0, s1 = (s01 << 32) | s00, (s11 << 32) | s10
        m64 = 0xFFFFFFFFFFFFFFFF
        out = [0] * n
        for i in range(n):
            out[i] = (s0 + s1) & M32
            s1 ^= s0
            s0 = (((s0 << 24) & m64) | (s0 >> 40)) ^ s1 ^ ((s1 << 16) & m64)
            s1 = ((s1 << 37) & m64) | (s1 >> 27)
        self._s = [s0 >> 32, s0 & M32, s1 >> 32, s1 & M32]
        return np.array(out, dtype=np.uint64)

    def _take(self, n):
        """The next n draws from those made ahead, making AHEAD more whenever they run out."""
        out = np.empty(n, np.uint64)
        got = 0
        while got < n:
            if self._ahead is None or self._ahead[1] == len(self._ahead[0]):
                base = self.s  # (the state after the last buffer, when it ran out)
                buf, end = _draws(_state(base), max(self.AHEAD, n - got))
                self._ahead = [buf, 0, base, _words(end)]
            buf, taken = self._ahead[0], self._ahead[1]
            k = min(n - got, len(buf) - taken)
            out[got:got + k] = buf[taken:taken + k]
            self._ahead[1] = taken + k
            got += k
        return out

    def state(self):
        return [_i32(w) for w in self.s]


def _state(words):
    """The generator's four 32-bit words as its two 64-bit halves (s0, s1), little-endian uint64s."""
    s01, s00, s11, s10 = words
    return np.array([(s01 << 32) | s00, (s11 << 32) | s10], dtype="<u8")


def _words(state):
    s0, s1 = int(state[0]), int(state[1])
    return [s0 >> 32, s0 & M32, s1 >> 32, s1 & M32]


BLOCK = 128  # draws per table block
PASS = 16  # blocks per pass: a pass makes up to PASS * BLOCK = 2,048 draws with a handful of NumPy calls
_BLOCK_TABLES = []


def block_tables():
    """
    xoroshiro128+'s step is linear over GF(2) (xors, shifts and rotations of the state's bits), so the state k
    steps after s is the xor, over the bits of s that are set, of the state k steps after that bit alone.
    byte[g, c, k]: the low 32-bit halves of both words (lo(s0) << 32 | lo(s1), all an output needs) k steps
    after the state whose bits 8g .. 8g+7 are the eight bits of c, the others 0 (k < BLOCK); jump[b, j]: the
    state j * BLOCK steps after the one-bit state b (j = 0 .. PASS); full[b, k]: the state k steps after it
    (k = 0 .. BLOCK). Made once per process: 4.3 MB, small enough to stay in the caches between passes.
    """
    if not _BLOCK_TABLES:
        u, lo = np.uint64, np.uint64(M32)
        one_bit = u(1) << np.arange(64, dtype=u)
        s0 = np.concatenate([one_bit, np.zeros(64, u)])
        s1 = np.concatenate([np.zeros(64, u), one_bit])
        low = np.empty((128, BLOCK), u)
        full = np.empty((128, BLOCK + 1, 2), u)
        jump = np.empty((128, PASS + 1, 2), u)
        for k in range(PASS * BLOCK + 1):
            if k <= BLOCK:
                full[:, k, 0], full[:, k, 1] = s0, s1
            if k % BLOCK == 0:
                jump[:, k // BLOCK, 0], jump[:, k // BLOCK, 1] = s0, s1
            if k < BLOCK:
                low[:, k] = ((s0 & lo) << u(32)) | (s1 & lo)
            s1 = s1 ^ s0  # the step of Xoroshiro128Plus.raw, on the 128 states at once
            s0 = ((s0 << u(24)) | (s0 >> u(40))) ^ s1 ^ (s1 << u(16))
            s1 = (s1 << u(37)) | (s1 >> u(27))
        by_group = low.reshape(16, 8, BLOCK)
        byte = np.zeros((16, 256, BLOCK), u)
        for c in range(1, 256):
            byte[:, c] = byte[:, c & (c - 1)] ^ by_group[:, (c & -c).bit_length() - 1]  # c without its lowest bit, xor that bit
        _BLOCK_TABLES.extend([byte, jump, full])
    return _BLOCK_TABLES


def _after(state, table, k):
    """The state k steps after state (two little-endian uint64 words), from a table of one-bit states."""
    rows = np.flatnonzero(np.unpackbits(state.view(np.uint8), bitorder="little"))
    return np.bitwise_xor.reduce(table[rows, k], axis=0).astype("<u8")


def _advance(state, k):
    """The state k steps after state (the two 64-bit halves), by the tables' jumps."""
    _, jump, full = block_tables()
    while k > 0:
        j = min(k // BLOCK, PASS)
        if j > 0:
            state, k = _after(state, jump, j), k - j * BLOCK
        else:
            state, k = _after(state, full, k), 0
    return state


def _draws(state, n):
    """
    n draws from state (the two 64-bit halves) and the state after them, by passes of up to PASS blocks of
    BLOCK draws: the blocks' first states come from the jump table at once, and each block's draws are the xor
    of 16 rows of the byte table, one per byte of its first state (a quarter of the memory, and half the rows,
    of one row per 4 bits over longer blocks).
    """
    byte, jump, full = block_tables()
    rows = byte.reshape(16 * 256, BLOCK)
    groups = np.arange(0, 16 * 256, 256)[None, :]  # the first row of each byte's table
    out = np.empty(n, np.uint64)
    done = 0
    while done < n:
        m = min(PASS * BLOCK, n - done)
        blocks = -(-m // BLOCK)
        starts = _after(state, jump, slice(0, blocks))  # [blocks, 2]: each block's first state
        octets = starts.view(np.uint8).reshape(blocks, 16)  # s0's bytes, then s1's, from the lowest
        halves = np.bitwise_xor.reduce(np.take(rows, groups + octets, axis=0), axis=1).reshape(-1)[:m]
        words = halves.view(np.uint32).reshape(m, 2)  # [lo(s1), lo(s0)] of each draw (little-endian)
        out[done:done + m] = words[:, 0] + words[:, 1]  # uint32 arithmetic: the sum modulo 2**32
        state = _after(np.ascontiguousarray(starts[blocks - 1]), full, m - (blocks - 1) * BLOCK)
        done += m
    return out, state


def raw_blocks(gen, n):
    """Xoroshiro128Plus.raw(n) by the tables (_draws), from the generator's state and leaving it after them."""
    out, state = _draws(_state(gen.s), n)
    gen.s = _words(state)
    return out


def uniform_float64(gen):
    """pure-rand's uniformFloat64: a multiple of 2**-53 in [0, 1) from two draws."""
    v1 = gen.next() & 67108863
    v2 = gen.next() & 134217727
    return v1 * 1.4901161193847656e-8 + v2 * 1.1102230246251565e-16


def uniform_int(gen, lo, hi):
    """pure-rand's uniformInt for ranges below 2**32: rejection sampling of one draw."""
    size = hi - lo + 1
    allowed = (4294967296 // size) * size if size > 2 else 4294967296
    v = gen.next() + 2147483648
    while v >= allowed:
        v = gen.next() + 2147483648
    return v % size + lo


def uniform_ints(gen, sizes):
    """
    uniform_int(gen, 0, size - 1) for each of sizes in turn, vectorized: each takes the next draw, unless it is
    rejected (at or above the largest multiple of size below 2**32), and then the one after it. The generator
    is left past draws it did not use: for a generator drawn from for this alone (an epoch's permutation).
    """
    sizes = sizes.astype(np.uint64)
    allowed = np.where(sizes > 2, (np.uint64(4294967296) // sizes) * sizes, np.uint64(4294967296))
    n = len(sizes)
    draws = gen.raw(n) ^ np.uint64(0x80000000)  # the signed draw + 2**31
    out = np.empty(n, np.uint64)
    done = used = 0
    while done < n:
        if len(draws) - used < n - done:
            draws = np.concatenate([draws, gen.raw(n - done + 16) ^ np.uint64(0x80000000)])
        v = draws[used:used + n - done]
        rejected = np.flatnonzero(v >= allowed[done:])
        take = rejected[0] if len(rejected) else n - done
        out[done:done + take] = v[:take] % sizes[done:done + take]
        done, used = done + take, used + take + (1 if len(rejected) else 0)
    return out.astype(np.int64)


def _uniform_floats(raw):
    """Pairs of raw draws to pure-rand's uniformFloat64 values (vectorized)."""
    v1 = (raw[0::2] & np.uint64(67108863)).astype(np.float64)
    v2 = (raw[1::2] & np.uint64(134217727)).astype(np.float64)
    return v1 * 1.4901161193847656e-8 + v2 * 1.1102230246251565e-16


def _float32_below(x):
    f = np.float32(x)
    if float(f) >= x:
        f = np.nextafter(f, np.float32(-np.inf))
    return f


class Rng:
    """
    ganc's seeded generator (src/runtime/rng.ts): xoroshiro128+ seeded through murmur3's finaliser, the
    same draws in the same order, so a seed gives the TypeScript trainer's noise here too. Box-Muller uses
    the platform's log/cos/sin; rounded to float32 they agree with V8's but for a rare last-bit difference.
    """

    def __init__(self, seed):
        words = [_i32(mix32(_i32(seed + _imul(k, 0x9E3779B9)))) for k in range(1, 5)]
        self.gen = Xoroshiro128Plus(*words)

    @staticmethod
    def from_state(state):
        r = Rng.__new__(Rng)
        r.gen = Xoroshiro128Plus(*state)
        return r

    def state(self):
        return self.gen.state()

    def uniform(self):
        return uniform_float64(self.gen)

    def uint32(self):
        return self.gen.next() & M32

    def normal(self):
        u1 = 1 - self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)

    # Long fills go by chunks of FILL_CHUNK draws (or pairs): the same draws in the same order, and the same
    # float32 values (each is computed alone), without float64 temporaries the size of the whole variable (a
    # dense kernel of 6.4M values would otherwise take about 250 MB for a moment).
    FILL_CHUNK = 1 << 16

    def fill_uniform(self, n, lo, hi):
        """n float32 values uniform in [lo, hi), one draw each (24 bits)."""
        v = np.empty(n, np.float32)
        for i in range(0, n, self.FILL_CHUNK):
            raw = self.gen.raw(min(self.FILL_CHUNK, n - i))
            v[i:i + len(raw)] = np.float64(lo) + np.float64(hi - lo) * ((raw >> np.uint64(8)).astype(np.float64) * 2.0 ** -24)
        v[v >= hi] = _float32_below(hi)
        return v

    def fill_normal(self, n, mean, std):
        """n normal values; Box-Muller pairs used whole (cos, then sin)."""
        pairs = (n + 1) // 2
        out = np.empty(2 * pairs, dtype=np.float32)
        for i in range(0, pairs, self.FILL_CHUNK):
            k = min(self.FILL_CHUNK, pairs - i)
            u = _uniform_floats(self.gen.raw(4 * k))
            r = np.sqrt(-2 * np.log(1 - u[0::2]))
            theta = 2 * math.pi * u[1::2]
            out[2 * i:2 * (i + k):2] = mean + std * r * np.cos(theta)
            out[2 * i + 1:2 * (i + k):2] = mean + std * r * np.sin(theta)
        return out[:n]

    def fill_truncated_normal(self, n, mean, std):
        """Like fill_normal, but a draw with |z| > 2 is redrawn; a sine half left over at the end is dropped."""
        out = np.empty(n, dtype=np.float32)
        got = 0
        while got < n:
            saved = list(self.gen.s)
            pairs = min((n - got) * 6 // 10 + 8, self.FILL_CHUNK)  # (a chunk's values all taken: the next goes on from its end)
            u = _uniform_floats(self.gen.raw(4 * pairs))
            r = np.sqrt(-2 * np.log(1 - u[0::2]))
            theta = 2 * math.pi * u[1::2]
            z = np.empty(2 * pairs)
            z[0::2] = r * np.cos(theta)
            z[1::2] = r * np.sin(theta)
            ok = np.nonzero((z >= -2) & (z <= 2))[0]
            take = min(len(ok), n - got)
            out[got:got + take] = (mean + std * z[ok[:take]]).astype(np.float32)
            got += take
            if got == n:
                # The draws after the pair that gave the last value belong to the next call: rewind to there.
                self.gen.s = saved
                self.gen.raw(4 * (int(ok[take - 1]) // 2 + 1))
        return out


def fans(shape):
    rf = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in = (shape[-2] if len(shape) >= 2 else (shape[0] if shape else 1)) * rf
    fan_out = (shape[-1] if shape else 1) * rf
    return fan_in, fan_out


def draw_init(rng, shape, init):
    """A variable's initial values (src/layers/weights.ts), in ganc's layout, drawn from the run's generator."""
    n = int(np.prod(shape)) if shape else 1
    kind = init["kind"]
    fan_in, fan_out = fans(list(shape))
    if kind == "zeros":
        v = np.zeros(n, np.float32)
    elif kind == "ones":
        v = np.ones(n, np.float32)
    elif kind == "normal":
        v = rng.fill_normal(n, init["mean"], init["std"])
    elif kind == "truncated_normal":
        v = rng.fill_truncated_normal(n, init["mean"], init["std"])
    elif kind == "uniform":
        v = rng.fill_uniform(n, init["low"], init["high"])
    elif kind == "glorot":
        lim = math.sqrt(6 / (fan_in + fan_out))
        v = rng.fill_uniform(n, -lim, lim)
    elif kind == "glorot_normal":
        v = rng.fill_normal(n, 0, math.sqrt(2 / (fan_in + fan_out)))
    elif kind == "he_normal":
        v = rng.fill_normal(n, 0, math.sqrt(2 / fan_in))
    elif kind == "he_uniform":
        lim = math.sqrt(6 / fan_in)
        v = rng.fill_uniform(n, -lim, lim)
    elif kind == "orthogonal":
        cols = shape[-1] if shape else 1
        rows = n // cols
        big, small = max(rows, cols), min(rows, cols)
        q = np.array([[rng.normal() for _ in range(big)] for _ in range(small)])
        for j in range(small):
            for _ in range(2):
                for k in range(j):
                    q[j] -= np.dot(q[k], q[j]) * q[k]
            q[j] /= math.sqrt(float(np.dot(q[j], q[j])))
        v = (q.T if rows >= cols else q).astype(np.float32).reshape(-1)
    else:
        raise ValueError("unknown initializer " + kind)
    return torch.from_numpy(v.reshape(shape))


# ---- data ---------------------------------------------------------------------------------------------------

TOY_MODES = {
    "ring8": ([[math.cos(2 * math.pi * i / 8) * 2, math.sin(2 * math.pi * i / 8) * 2] for i in range(8)], 0.02),
    "grid25": ([[a, b] for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)], 0.05),
}


def toy_points(kind, count, seed):
    """ganc's toy sets (src/runtime/data.ts toyDataset), point for point: a mode, then Box-Muller noise."""
    centers, std = TOY_MODES[kind]
    gen = Xoroshiro128Plus.from_seed(mix32(seed))
    x = np.empty((count, 2), np.float32)
    labels = np.empty(count, np.int64)
    for i in range(count):
        m = uniform_int(gen, 0, len(centers) - 1)
        r = math.sqrt(-2 * math.log(1 - uniform_float64(gen)))
        t = 2 * math.pi * uniform_float64(gen)
        x[i, 0] = centers[m][0] + std * r * math.cos(t)
        x[i, 1] = centers[m][1] + std * r * math.sin(t)
        labels[i] = m
    return x, labels


def load_data(spec, path, seed):
    """
    The samples as ganc loads them: NHWC float32 (or [N, D] vectors) and int labels. The toy sets are drawn
    here; every other source is read from the folder 'ganc data <spec> -o DIR' writes (x.npy, labels.npy),
    which holds the decoded samples in the TypeScript trainer's order.
    """
    d = spec["data"]
    if path is None and d["source"] in TOY_MODES:
        return toy_points(d["source"], d["args"].get("count", 10000), seed)
    if path is None:
        raise SystemExit(
            "error: this trainer reads its %s data from a folder written by ganc: run\n"
            "  ganc data %s -o data/%s\n"
            "then pass --data data/%s" % (d["source"], spec["source"], spec["name"], spec["name"]))
    x = np.load(os.path.join(path, "x.npy"))
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255
    x = x.astype(np.float32, copy=False)
    if list(x.shape[1:]) != list(d["shape"]):
        raise SystemExit("error: %s/x.npy holds samples of shape %s, the spec's data are %s" % (path, list(x.shape[1:]), d["shape"]))
    lp = os.path.join(path, "labels.npy")
    labels = np.load(lp).astype(np.int64) if os.path.exists(lp) else None
    return x, labels


class BatchIterator:
    """Shuffled batches, each epoch's order a Fisher-Yates permutation from (seed, epoch) alone (data.ts)."""

    def __init__(self, count, batch, seed, rank=0, world=1):
        if batch > count:
            raise SystemExit("error: batch size %d is larger than the data (%d samples)" % (batch, count))
        self.count, self.batch, self.seed = count, batch, _i32(seed)
        self.steps_per_epoch = count // batch
        self.epoch, self.cursor = 0, 0
        self.rank, self.world = rank, world
        self._order, self._order_epoch = None, -1

    def order(self, epoch):
        if epoch != self._order_epoch:
            gen = Xoroshiro128Plus.from_seed(mix32(self.seed ^ mix32(_i32(epoch + 0x9E3779B9))))
            picks = uniform_ints(gen, np.arange(self.count, 1, -1))  # uniform_int(gen, 0, i) for i = count-1 .. 1
            order = list(range(self.count))
            for i, k in zip(range(self.count - 1, 0, -1), picks.tolist()):
                order[i], order[k] = order[k], order[i]
            self._order, self._order_epoch = np.array(order, dtype=np.int64), epoch
        return self._order

    def next(self):
        """The indices of the next batch (this process's share of it when distributed)."""
        order = self.order(self.epoch)
        picked = order[self.cursor * self.batch:(self.cursor + 1) * self.batch]
        self.cursor += 1
        if self.cursor == self.steps_per_epoch:
            self.epoch, self.cursor = self.epoch + 1, 0
        share = self.batch // self.world
        return picked[self.rank * share:(self.rank + 1) * share]

    def state(self):
        return {"epoch": self.epoch, "cursor": self.cursor}

    def restore(self, s):
        self.epoch, self.cursor = s["epoch"], s["cursor"]
        if self.cursor == self.steps_per_epoch:
            self.epoch, self.cursor = self.epoch + 1, 0


def draw_noise(n, count, rng, cycle=False):
    """A batch of one noise input (run-sampling.ts drawNoise), laid out NCHW when it is an image."""
    if n["dist"] == "categorical":
        idx = [i % n["classes"] if cycle else int(math.floor(rng.uniform() * n["classes"])) for i in range(count)]
        return torch.from_numpy(np.eye(n["classes"], dtype=np.float32)[idx])
    size = int(np.prod(n["shape"]))
    if n["dist"] == "uniform":
        v = rng.fill_uniform(count * size, n["a"], n["b"])
    else:
        v = rng.fill_normal(count * size, n["a"], n["b"])
    return to_nchw(torch.from_numpy(v.reshape([count] + list(n["shape"]))))


class Batch(dict):
    """One iteration's inputs by name: b.real, b.real_label, b.z."""

    __getattr__ = dict.__getitem__


# ---- layout: ganc's tensors are NHWC and its kernels [kh, kw, in, out]; PyTorch's convolutions are NCHW --------

def to_nchw(x):
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


def to_nhwc(x):
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


class KinkFollower:
    """GANC_TRACE_KINKS=<the TypeScript trainer's trace>, with GANC_TRACE_FLOAT64: the oracle's float64
    evaluation on the reference's branches. The TypeScript trainer records, for every ReLU and leaky ReLU of its
    first iteration in order, the entries of the input within 1e-4 of the input's largest magnitude of 0 (its
    kink/ folder); here each such entry takes the side of 0 the reference gave it, and every other entry its
    own. A value that close to a kink is on one side or the other by rounding alone, and a gate that is open
    in one engine only moves the gradients upstream by ~1e-3 of their size. The entries whose side differs
    (the crossings) are counted in kinks.json, next to the trace."""

    def __init__(self, trainer, folder):
        self.trainer, self.folder = trainer, folder
        self.calls = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        self.n, self.report = 0, []
        self.relu, self.leaky_relu = F.relu, F.leaky_relu
        F.relu, F.leaky_relu = self.follow_relu, self.follow_leaky_relu

    def gate(self, op, x):
        if self.trainer.step != 0 or not self.trainer.traced_batch:  # the first iteration only
            return None
        if self.n >= len(self.calls):
            raise SystemExit("error: GANC_TRACE_KINKS: the reference evaluated %d ReLUs in its first iteration, "
                             "this trainer more" % len(self.calls))
        name = self.calls[self.n]
        self.n += 1
        _, kind, size = name.split("-")
        if kind != op or int(size) != x.numel():
            raise SystemExit("error: GANC_TRACE_KINKS: ReLU %d of the first iteration is %s of %s entries in the "
                             "reference, %s of %d here" % (self.n - 1, kind, size, op, x.numel()))
        index = torch.from_numpy(np.load(os.path.join(self.folder, name, "index.npy")).astype(np.int64))
        ref = torch.from_numpy(np.load(os.path.join(self.folder, name, "value.npy"))) > 0
        own = to_nhwc(x.detach())  # the reference's indices are into ganc's layout
        flat = own.reshape(-1)
        gate = flat > 0
        crossed = gate[index] != ref
        largest = float(flat.abs().max()) if flat.numel() else 0.0
        self.report.append({"call": name, "near": int(index.numel()), "crossed": int(crossed.sum()),
                            "crossed_largest": float(flat[index][crossed].abs().max()) / largest if bool(crossed.any()) else 0.0})
        gate[index] = ref
        return to_nchw(gate.reshape(own.shape))

    # The function itself, plus a linear correction at the entries whose side is the reference's and not their
    # own: every other entry is PyTorch's own op, whose graph (second derivatives included) stays as it was.
    def follow_relu(self, input, inplace=False):
        g = self.gate("relu", input)
        if g is None:
            return self.relu(input, inplace=inplace)
        return self.relu(input) + input * (g.to(input.dtype) - (input > 0).to(input.dtype))

    def follow_leaky_relu(self, input, negative_slope=0.01, inplace=False):
        g = self.gate("leaky_relu", input)
        if g is None:
            return self.leaky_relu(input, negative_slope, inplace=inplace)
        return self.leaky_relu(input, negative_slope) + input * ((1 - negative_slope) * (g.to(input.dtype) - (input > 0).to(input.dtype)))

    def write(self, folder):
        with open(os.path.join(folder, "kinks.json"), "w") as f:
            json.dump({"reference_calls": len(self.calls), "calls": self.n, "kinks": self.report}, f)


def oihw(k):
    """A conv kernel [kh, kw, in, out] (or a deconv kernel [kh, kw, out, in]) in PyTorch's layout."""
    return k.permute(3, 2, 0, 1)


def reshape(x, shape):
    """ganc's reshape: row-major over NHWC samples, whatever the layout PyTorch holds them in."""
    y = to_nhwc(x).reshape([x.shape[0]] + list(shape))
    return to_nchw(y)


def flatten(x):
    return to_nhwc(x).reshape(x.shape[0], -1)


def conv2d(x, k, b, stride, pad):
    """A convolution with TensorFlow's padding: pad = (top, bottom, left, right), uneven for even kernels."""
    top, bottom, left, right = pad
    if top != bottom or left != right:
        x = F.pad(x, (left, right, top, bottom))
        top = left = 0
    # A contiguous kernel: PyTorch 1.13's float64 convolution (slow_conv2d, the oracle's float64 evaluation)
    # refuses the permuted view's gradient in a backward pass ("grad_weight must be contiguous").
    return F.conv2d(x, oihw(k).contiguous(), b, stride=stride, padding=(top, left))


def deconv2d(x, k, b, stride, before, out_hw):
    """
    A transposed convolution with TensorFlow's output size: the full result cropped from 'before' (TensorFlow
    pads the forward convolution unevenly), or padded at the end where the kernel is smaller than the stride.
    """
    full = [(x.shape[2] - 1) * stride + k.shape[0], (x.shape[3] - 1) * stride + k.shape[1]]
    tail = [out_hw[i] - (full[i] - 2 * before[i]) for i in range(2)]
    if all(0 <= t < stride for t in tail):
        # The crop is PyTorch's own: 'before' rows off both sides, then output_padding rows added at the end.
        return F.conv_transpose2d(x, oihw(k), b, stride=stride, padding=tuple(before), output_padding=tuple(tail))
    extra = [max(0, before[i] + out_hw[i] - full[i]) for i in range(2)]
    y = F.conv_transpose2d(x, oihw(k), None, stride=stride, output_padding=tuple(extra))
    y = y[:, :, before[0]:before[0] + out_hw[0], before[1]:before[1] + out_hw[1]]
    return y if b is None else y + b.view(1, -1, 1, 1)


def channels(x, v):
    """A per-channel vector shaped to broadcast against x (channels on axis 1)."""
    return v.view([1, -1] + [1] * (x.dim() - 2))


def batch_norm(x, gamma, beta, moving_mean, moving_var, decay, eps, mode):
    """
    Batch normalization as ganc's trainers run it: batch statistics with the biased variance while training,
    the moving averages (decay d: m <- m*d + s*(1-d), PyTorch's momentum 1-d) updated from them in "train"
    mode only; "infer" mode normalizes with the moving averages. Under torchrun the statistics are those of
    the whole batch, all processes' shares together (SyncBatchNorm's meaning; --no-sync-bn: each share's own).
    One process normalizes with PyTorch's batch norm kernel ((x - mean) / sqrt(var + eps) * gamma + beta, the
    biased variance; differentiable to any order), without its running statistics, whose variance is the
    unbiased one: the moving averages are updated here, from the statistics ganc's trainers use.
    """
    axes = [0] + list(range(2, x.dim()))
    if mode == "infer":
        return F.batch_norm(x, moving_mean, moving_var, gamma, beta, False, 0.0, eps)
    if not DIST["sync_bn"] and x.numel() > x.shape[1]:
        if mode == "train":
            with torch.no_grad():
                mean = x.mean(axes)
                var = ((x - channels(x, mean)) ** 2).mean(axes)
                moving_mean.copy_(moving_mean * decay + mean * (1 - decay))
                moving_var.copy_(moving_var * decay + var * (1 - decay))
        return F.batch_norm(x, None, None, gamma, beta, True, 0.0, eps)
    if DIST["sync_bn"]:
        # Sums over every process's share (all_sum is differentiable, to any order: gradient penalties pass
        # through it), so the statistics, the moving averages and the gradients are the single-process ones.
        count = (x.numel() // x.shape[1]) * DIST["world"]
        mean = all_sum(x.sum(axes)) / count
        var = all_sum(((x - channels(x, mean)) ** 2).sum(axes)) / count
    else:  # one value per channel, which PyTorch's kernel refuses to normalize: its variance is 0
        mean = x.mean(axes)
        var = ((x - channels(x, mean)) ** 2).mean(axes)
    if mode == "train":
        with torch.no_grad():
            moving_mean.copy_(moving_mean * decay + mean.detach() * (1 - decay))
            moving_var.copy_(moving_var * decay + var.detach() * (1 - decay))
    y = (x - channels(x, mean)) * torch.rsqrt(channels(x, var) + eps)
    if gamma is not None:
        y = y * channels(x, gamma)
    if beta is not None:
        y = y + channels(x, beta)
    return y


def layer_norm(x, gamma, beta, eps):
    axes = list(range(1, x.dim()))
    mean = x.mean(axes, keepdim=True)
    var = ((x - mean) ** 2).mean(axes, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * channels(x, gamma) + channels(x, beta)


def concat_input(x, y):
    """Joins y on the channel axis; a vector y is broadcast over the positions of an image x."""
    if x.dim() == 4 and y.dim() == 2:
        y = y.view(y.shape[0], y.shape[1], 1, 1).expand(-1, -1, x.shape[2], x.shape[3])
    return torch.cat([x, y], 1)


# ---- the functions of the spec language -------------------------------------------------------------------

def scalar(v):
    return torch.tensor(float(v), dtype=torch.float32, device=DEVICE[0])


def as_tensor(v):
    """A number as a scalar tensor on the run's device; a tensor as it is."""
    return v if torch.is_tensor(v) else scalar(v)


def per_sample(x, rank):
    """A per-sample [1] value shaped [batch, 1, ..., 1] to weigh each sample."""
    return x.reshape([-1] + [1] * rank)


class TfAbs(torch.autograd.Function):
    """
    |x| with TensorFlow.js's gradient: sign(x), but -1 at 0 (tf.abs's gradient is step(x, -1)), where
    torch.abs's is 0. bce_logits' and l1's gradients at their kinks follow from it. The backward is made of
    differentiable operations, so second derivatives (gradient penalties) go through it: |x|'' is 0.
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, g, -g)


def tf_abs(x):
    return TfAbs.apply(x)


def bce_logits(logits, targets):
    """
    Mean sigmoid cross-entropy on logits: TensorFlow.js's stable form relu(x) - x t + log(1 + exp(-|x|)), as
    PyTorch's one kernel. The values agree to rounding, and so do the gradients, sigmoid(x) - t, at a logit
    of exactly 0 too: with tf.abs's gradient of -1 there, TensorFlow.js's formula gives 0.5 - t, as PyTorch.
    """
    if not torch.is_tensor(targets):
        targets = torch.full_like(logits, float(targets))
    elif targets.shape != logits.shape:
        logits, targets = torch.broadcast_tensors(logits, targets)
    return F.binary_cross_entropy_with_logits(logits, targets)


def bce(p, targets):
    eps = 1e-7
    q = torch.clamp(p, eps, 1 - eps)
    return -torch.mean(targets * torch.log(q) + (1 - targets) * torch.log(1 - q))


def mse(a, b):
    return torch.mean((a - b) ** 2)


def l1(a, b):
    return torch.mean(tf_abs(a - b))


def softmax_ce(logits, labels):
    return torch.mean(-torch.sum(labels * F.log_softmax(logits, -1), -1))


def std(x):
    return torch.sqrt(torch.mean((x - torch.mean(x)) ** 2))


def sample_norm(x):
    return torch.sqrt(torch.sum(x.reshape(x.shape[0], -1) ** 2, 1))


def sample_mean(x):
    return torch.mean(x.reshape(x.shape[0], -1), 1)


def pullaway(x):
    n = x.shape[0]
    flat = flatten(x)
    unit = flat / torch.sqrt(torch.sum(flat ** 2, 1, keepdim=True))
    return (torch.sum(unit @ unit.t()) - n) / (n * (n - 1))


def maximum(a, b):
    """max with TensorFlow.js's gradient: all of it to a where a >= b, else to b."""
    a, b = torch.broadcast_tensors(as_tensor(a), as_tensor(b))
    return torch.where(a >= b, a, b)


def minimum(a, b):
    a, b = torch.broadcast_tensors(as_tensor(a), as_tensor(b))
    return torch.where(a <= b, a, b)


def slice_channels(x, begin, size):
    """slice on the last axis of ganc's layout: the channels, axis 1 here, of an image."""
    return x.narrow(1 if x.dim() == 4 else x.dim() - 1, begin, size)


def grad_of(f, x):
    """
    grad(y, x): the gradient of sum(f(x)) with respect to x, kept differentiable (gradient penalties). Under
    torchrun f runs the critic through its DDP wrapper: autograd.grad with respect to an input, with
    create_graph=True, leaves DDP's hooks alone (they fire on the step's backward, once for each variable,
    second derivatives included); PyTorch 1.13's DDP does this right, as the tests check against one process.
    """
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    y = f(x).sum()
    scaler = AMP[0]
    if scaler is None:
        return torch.autograd.grad(y, x, create_graph=True)[0]
    # --amp: the gradient of the scaled output (float16 gradients of the unscaled one underflow), unscaled.
    return torch.autograd.grad(scaler.scale(y), x, create_graph=True)[0] / scaler.get_scale()


def clip_gradients(params, clipnorm, clipvalue):
    """TensorFlow.js's clipnorm (each gradient by its own norm) and clipvalue, on the variables' .grad."""
    for p in params:
        g = p.grad
        if g is None:
            continue
        if clipnorm is not None:
            g = g * (clipnorm / torch.clamp(torch.norm(g), min=clipnorm))
        if clipvalue is not None:
            g = torch.clamp(g, -clipvalue, clipvalue)
        p.grad = g


# ---- optimizers: TensorFlow.js's update rules, operation for operation ----------------------------------------

class Optimizer:
    """
    One step's optimizer over its variables. Adam: m <- b1 m + (1-b1) g, v <- b2 v + (1-b2) g^2, then
    w <- w - lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) (epsilon outside the root, as PyTorch's Adam);
    RMSprop: ms <- rho ms + (1-rho) g^2, mom <- momentum mom + lr g / sqrt(ms + eps) (epsilon inside the root,
    unlike PyTorch's), w <- w - mom; momentum: a <- m a + g, w <- w - lr a (Nesterov: w - lr (g + m a)).

    The slots of all the variables lie end to end in one flat buffer each (slots[k][i] is variable i's part of
    it), and the gradients are copied end to end into one more: each operation of the rule runs once over the
    whole group, in place. The same float32 operations in the same order as applying the rule variable by
    variable (elementwise operations do not depend on where an element sits), without a temporary the size of
    a kernel per operation: allocating those costs more than the arithmetic (page faults on fresh memory).
    The gradients' buffer and the scratch buffer serve one update at a time: all the optimizers share one pair
    (WORK, sized to the largest group), rather than each keeping its own.
    """

    WORK = {}  # (dtype, device): the shared flat buffer, the gradients' part then the scratch part

    # The slots of each variable, by the names TensorFlow.js's optimizers give them in checkpoints.
    SLOTS = {"adam": ["m", "v"], "rmsprop": ["rms", "momentum"], "momentum": ["momentum"], "sgd": []}

    def __init__(self, name, params, cfg):
        self.name, self.params, self.cfg = name, params, cfg
        self.param_groups = [{"params": params}]  # what GradScaler reads (--amp)
        self.lr = cfg["lr"]
        self.t = 0
        sizes = [p.numel() for p in params]
        like = params[0] if params else torch.zeros(0)

        def flat():
            return torch.zeros(sum(sizes), dtype=like.dtype, device=like.device)

        def parts(buffer):
            return [part.view(p.shape) for p, part in zip(params, buffer.split(sizes))]

        self.flat_slots = [flat() for _ in self.SLOTS[cfg["kind"]]]
        self.slots = [parts(s) for s in self.flat_slots]
        self.size, self.parts, self.work = sum(sizes), parts, None
        self.key = key = (like.dtype, like.device)
        if key not in self.WORK or self.WORK[key].numel() < 2 * self.size:
            self.WORK[key] = torch.empty(2 * self.size, dtype=like.dtype, device=like.device)
        # Adam's bias corrections use beta^t kept as float32 running products, as TensorFlow.js keeps them.
        self.acc_beta1 = np.float32(cfg["beta1"])
        self.acc_beta2 = np.float32(cfg["beta2"])

    def buffers(self):
        """self.grad (the gradients, then the update) and self.scratch: this group's parts of the shared buffer."""
        work = self.WORK[self.key]
        if work is not self.work:  # (a larger group's optimizer made a new one after this one was made)
            self.work = work
            self.grad, self.scratch = work[:self.size], work[self.size:2 * self.size]
            self.grads, self.scratches = self.parts(self.grad), self.parts(self.scratch)

    @torch.no_grad()
    def apply(self, grads):
        self.t += 1
        self.buffers()
        if grads and all(g is not None for g in grads):
            torch.cat([g.reshape(-1) for g in grads], out=self.grad)
            self.rule(self.grad, self.flat_slots, self.scratch)
            torch._foreach_add_(self.params, self.grads)  # w <- w + the update, variable by variable
        else:
            # A variable the loss does not reach (its gradient None) keeps its value and its slots.
            for i, (p, g) in enumerate(zip(self.params, grads)):
                if g is not None:
                    self.grads[i].copy_(g)
                    self.rule(self.grads[i], [s[i] for s in self.slots], self.scratches[i])
                    p.add_(self.grads[i])
        if self.cfg["kind"] == "adam":
            self.acc_beta1 = np.float32(self.acc_beta1 * np.float32(self.cfg["beta1"]))
            self.acc_beta2 = np.float32(self.acc_beta2 * np.float32(self.cfg["beta2"]))

    def rule(self, g, slots, s):
        """
        One update, in place: g holds the gradients and is left holding the change to add to the weights
        (w - x and w + (-x) are the same float32 number); s is scratch. The comments give each line's formula.
        """
        c, lr = self.cfg, self.lr
        if c["kind"] == "adam":
            m, v = slots
            m.mul_(c["beta1"]).add_(torch.mul(g, 1 - c["beta1"], out=s))  # m*b1 + g*(1-b1)
            torch.mul(g, g, out=s).mul_(1 - c["beta2"])
            v.mul_(c["beta2"]).add_(s)  # v*b2 + g*g*(1-b2)
            torch.div(v, float(np.float32(1) - self.acc_beta2), out=s).sqrt_().add_(c["epsilon"])  # sqrt(v/(1-b2^t)) + eps
            torch.div(m, float(np.float32(1) - self.acc_beta1), out=g).div_(s).mul_(-lr)  # m/(1-b1^t) / that * -lr
        elif c["kind"] == "rmsprop":
            ms, mom = slots
            torch.mul(g, g, out=s).mul_(1 - c["rho"])
            ms.mul_(c["rho"]).add_(s)  # ms*rho + g*g*(1-rho)
            torch.add(ms, c["epsilon"], out=s).sqrt_()
            mom.mul_(c["momentum"]).add_(g.mul_(lr).div_(s))  # mom*momentum + g*lr / sqrt(ms + eps)
            torch.neg(mom, out=g)  # -mom
        elif c["kind"] == "momentum":
            a = slots[0]
            a.mul_(c["momentum"]).add_(g)  # a*momentum + g
            if c["nesterov"]:
                g.add_(torch.mul(a, c["momentum"], out=s)).mul_(-lr)  # -lr (g + a*momentum)
            else:
                torch.mul(a, -lr, out=g)  # -lr a
        else:
            g.mul_(-lr)  # -lr g

    def step(self):
        """The update from the variables' .grad (GradScaler calls this under --amp)."""
        self.apply([p.grad for p in self.params])

    def set_lr(self, base, decay, every, rate, step, total):
        if decay == "linear":
            self.lr = base * max(0.0, 1 - step / total)
        elif decay == "staircase":
            self.lr = base * rate ** (step // every)


class WeightAverage:
    """An exponential moving average of a net's weights: samples use it, training never does."""

    def __init__(self, params, decay):
        self.params, self.decay = params, decay
        self.shadow = [p.detach().clone() for p in params]

    @torch.no_grad()
    def update(self):
        for s, p in zip(self.shadow, self.params):
            s.copy_(s * self.decay + p * (1 - self.decay))

    @torch.no_grad()
    def swap(self):
        for s, p in zip(self.shadow, self.params):
            t = p.clone()
            p.copy_(s)
            s.copy_(t)


# ---- ganc checkpoints (src/runtime/checkpoint.ts) -------------------------------------------------------------

CKPT_MAGIC = b"GANCKPT\n"


def read_checkpoint(file):
    """A .ganckpt file: (meta, {name: float32/int32 array}), its digests checked."""
    buf = open(file, "rb").read()
    if buf[:8] != CKPT_MAGIC:
        raise SystemExit("error: %s is not a ganc checkpoint" % file)
    if hashlib.sha256(buf[:-32]).digest() != buf[-32:]:
        raise SystemExit("error: checkpoint %s is corrupt or truncated" % file)
    hlen = struct.unpack_from("<I", buf, 12)[0]
    header = json.loads(buf[16:16 + hlen].decode("utf-8"))
    data = 16 + hlen
    data += (-data) % 8
    tensors = {}
    for t in header["tensors"]:
        dt = np.float32 if t["dtype"] == "float32" else np.int32
        a = np.frombuffer(buf, dtype="<" + np.dtype(dt).str[1:], count=int(np.prod(t["shape"])) if t["shape"] else 1, offset=data + t["offset"])
        tensors[t["name"]] = a.reshape(t["shape"]).copy()
    meta = dict(header.get("meta", {}))
    meta["step"] = header["step"]
    return meta, tensors


def write_checkpoint(file, step, meta, tensors):
    """
    Writes tensors ({name: array}) and meta in ganc's checkpoint format, atomically. The arrays go to the file
    one by one, and both digests are computed as they go: the file is never held whole in memory (for the
    seed GAN's variables and Adam slots, 160 MB, which copied four times made most of the trainer's peak memory).
    """
    entries, arrays, offset = [], [], 0
    data_digest = hashlib.sha256()
    for name, a in tensors.items():
        a = np.asarray(a)  # (not ascontiguousarray, which makes a scalar [1])
        dtype = "int32" if a.dtype.kind in "iu" else "float32"
        a = a.astype("<i4" if dtype == "int32" else "<f4", order="C", copy=False).reshape(-1).view(np.uint8)
        entries.append({"name": name, "shape": list(np.shape(tensors[name])), "dtype": dtype, "offset": offset, "length": a.size})
        pad = b"\0" * ((-a.size) % 8)
        data_digest.update(a)
        data_digest.update(pad)
        arrays.append((a, pad))
        offset += a.size + len(pad)
    header = json.dumps({"step": step, "meta": meta, "tensors": entries, "dataLength": offset,
                         "dataSha256": data_digest.hexdigest()}, separators=(",", ":")).encode("utf-8")
    head = CKPT_MAGIC + struct.pack("<II", 1, len(header)) + header
    head += b"\0" * ((-len(head)) % 8)
    digest = hashlib.sha256(head)
    tmp = file + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        for a, pad in arrays:
            f.write(a)
            f.write(pad)
            digest.update(a)
            digest.update(pad)
        f.write(digest.digest())
    os.replace(tmp, file)


# ---- sample grids -------------------------------------------------------------------------------------------

def write_png(file, img):
    """img: uint8 [H, W] or [H, W, 3]."""
    h, w = img.shape[:2]
    color = 2 if img.ndim == 3 else 0
    rows = b"".join(b"\0" + img[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & M32)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")
    with open(file, "wb") as f:
        f.write(png)


def sample_grid(x, lo, hi):
    """Images [n, C, H, W] (or 2-D points [n, 2], drawn as a scatter plot) as one uint8 picture."""
    x = x.detach().float().cpu()
    if x.dim() == 2:
        img = np.full((256, 256), 255, np.uint8)
        pts = ((x.numpy() + 5) / 10 * 255).round().astype(int)
        for px, py in pts:
            if 0 <= px < 256 and 0 <= py < 256:
                img[255 - py, px] = 0
        return img
    x = to_nhwc(x).numpy()
    x = np.clip((x - lo) / (hi - lo), 0, 1)
    n, h, w, c = x.shape
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.zeros((rows * h, cols * w, c), np.float32)
    for i in range(n):
        r, q = divmod(i, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = x[i]
    grid = (grid * 255).round().astype(np.uint8)
    return grid[:, :, 0] if c == 1 else grid[:, :, :3]


# ---- several processes (torchrun) ----------------------------------------------------------------------------
#   torchrun --nproc_per_node=N trainer.py ... starts N copies of this program, each told its RANK, WORLD_SIZE,
#   LOCAL_RANK and the rendezvous (MASTER_ADDR, MASTER_PORT) in its environment. --batch is each process's share:
#   N processes of batch B train as one process of batch N*B does. Every process draws the whole batch's noise
#   and data order from the same seeded generator and keeps its own contiguous slice; gradients are averaged
#   over the processes (for losses that are means over the batch, the one-process gradient of the whole batch),
#   batch norm sums its statistics over all of them, logged values are the whole batch's means. Rank 0 alone
#   writes the run folder (samples, metrics, checkpoints), whose checkpoints hold the whole batch's size, so a
#   run resumes on another number of processes.

DEVICE = ["cpu"]
# The process group: its size, this process's rank, and whether batch norm syncs its statistics (--no-sync-bn).
DIST = {"world": 1, "rank": 0, "sync_bn": False}
# The GradScaler of the step being computed under --amp (gradient penalties scale their output with it).
AMP = [None]
# The run, for the message of a process that lost the others.
CURRENT = [None]


class _AllSum(torch.autograd.Function):
    """The sum of a tensor over the processes. Its gradient is the sum of theirs: the processes' losses added."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, g):
        return _AllSum.apply(g)  # through apply again, so that second derivatives (gradient penalties) pass too


def all_sum(x):
    return _AllSum.apply(x) if DIST["world"] > 1 else x


class _AllGather(torch.autograd.Function):
    """
    The whole batch, every process's share joined in rank order. Every process then computes the same value
    from it; the gradient of a process's share is the sum of the processes' gradients of it (through all_sum,
    so that second derivatives pass), which is the number of processes times the one-process gradient, and
    the average DDP (or the by-hand average) takes of the variables' gradients gives the one-process gradient.
    """

    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(DIST["world"])]
        dist.all_gather(parts, x.contiguous())
        ctx.n = x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, g):
        r = DIST["rank"]
        return all_sum(g)[r * ctx.n:(r + 1) * ctx.n]


def whole_batch(x):
    """
    A per-sample tensor that a reduction over the batch reads (sum, mean, norm, std, pullaway): under torchrun
    the whole batch's, so that the reduction, and whatever nonlinear use the loss makes of it, is the one
    process's; one process: x itself.
    """
    return _AllGather.apply(x) if DIST["world"] > 1 else x


def grad_scaler():
    """A loss scaler for --amp: torch.amp's (PyTorch 2.3 and later), else torch.cuda.amp's (1.13 to 2.2)."""
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        return amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


def autocast_cuda():
    """Mixed precision on CUDA: torch.autocast exists from PyTorch 1.10 on, 2.x included."""
    return torch.autocast("cuda", dtype=torch.float16)


_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "gloo", "NCCL", "ProcessGroup", "timed out", "Timed out", "Socket")


def entry(main):
    """Runs the trainer; a process that loses the others (one stopped or was killed) says so, not a stack trace."""
    try:
        return main()
    except RuntimeError as e:
        run = CURRENT[0]
        if run is None or run.world == 1 or not any(k in str(e) for k in _LOST):
            raise
        folder = os.path.join(run.out, "checkpoints")
        saved = sorted(f for f in os.listdir(folder) if f.endswith(".ganckpt")) if os.path.isdir(folder) else []
        last = ("its newest checkpoint, %s/%s, continues with --resume (on any number of processes, keeping the "
                "whole batch: --batch times processes = %d)" % (folder, saved[-1], run.global_batch)) if saved else "it wrote no checkpoint yet"
        print("error: process %d of %d lost the others at iteration %d (one of them stopped or was killed): %s\n"
              "training stopped; %s" % (run.rank, run.world, run.step + 1, str(e).strip().split("\n")[0], last), file=sys.stderr, flush=True)
        return 1


class Run:
    """
    One training run: flags, device, data, seeded randomness, variables, optimizers, and the loop's cadence
    (logs, sample grids, checkpoints), as ganc's TypeScript trainers keep it. The trainer above declares its
    variables and optimizers here, then drives the loop.
    """

    def __init__(self, spec, argv):
        self.spec = spec
        a = self.args = self.parse(spec, argv)
        CURRENT[0] = self
        self.step = 0
        self.rank, self.world, self.local_rank = 0, 1, 0
        if a.device == "cuda" and not torch.cuda.is_available():
            raise SystemExit("error: --device cuda, but PyTorch sees no CUDA device")
        self.device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            self.join_group()
        DEVICE[0] = self.device
        if a.amp and self.device.type != "cuda":
            self.say("note: --amp needs CUDA; training in float32 on %s" % self.device)
        self.amp = bool(a.amp) and self.device.type == "cuda"
        self.scalers = {}
        self.by_hand = set()
        self.seed = spec["train"]["seed"] if a.seed is None else a.seed
        self.batch_size = spec["data"]["batch"] if a.batch is None else a.batch
        if self.batch_size < 1:
            raise SystemExit("error: --batch must be at least 1, not %d" % self.batch_size)
        self.global_batch = self.batch_size * self.world
        x, labels = load_data(spec, a.data, self.seed)
        self.x = torch.from_numpy(np.ascontiguousarray(x))
        self.labels = None if labels is None else torch.from_numpy(labels)
        self.iterator = BatchIterator(len(x), self.global_batch, self.seed, self.rank, self.world)
        self.rng = Rng(self.seed)
        self.init_rng = Rng(_u32(self.seed) ^ 0x9E3779B9)
        t = spec["train"]
        steps = a.steps if a.steps is not None else (None if a.epochs is not None else t["steps"])
        epochs = a.epochs if a.epochs is not None else t["epochs"]
        self.total_steps = steps if steps is not None else (epochs or 25) * self.iterator.steps_per_epoch
        self.vars, self.optimizers, self.states = {}, {}, {}
        self.switches = {}  # by step: its variables' requires_grad flags (begin_step)
        self.average = None
        self.sampler = None
        self.logged = {}
        self.batches_drawn = 0
        if a.truncation is not None and not a.sample_to:
            raise SystemExit("error: --truncation applies to --sample-to only (training samples use psi 1)")
        self.truncation_read = False
        # GANC_TRACE_FIRST_ITERATION=<dir>: a record of the first iteration, as the TypeScript trainer writes it.
        self.trace = (os.environ.get("GANC_TRACE_FIRST_ITERATION") or None) if self.world == 1 else None
        # GANC_TRACE_FLOAT64=1 with a trace: the same program in float64 (variables, batch, noise), a
        # higher-precision evaluation that tells float32 rounding from a difference of meaning (the oracle's).
        if self.trace and os.environ.get("GANC_TRACE_FLOAT64") == "1":
            torch.set_default_dtype(torch.float64)
        self.kinks = KinkFollower(self, os.environ["GANC_TRACE_KINKS"]) if self.trace and os.environ.get("GANC_TRACE_KINKS") else None
        self.traced, self.traced_batch, self.traced_steps = 0, False, {}
        self.out = a.out
        if self.rank == 0:
            os.makedirs(os.path.join(self.out, "samples"), exist_ok=True)
            os.makedirs(os.path.join(self.out, "checkpoints"), exist_ok=True)
            if not a.sample_to:
                # The spec, as ganc train keeps it: ganc sample, export, eval and report read this run from it.
                keep = os.path.join(self.out, spec["specFile"])
                with open(keep + ".tmp", "w", encoding="utf-8") as f:
                    f.write(spec["text"])
                os.replace(keep + ".tmp", keep)
        share = "" if self.world == 1 else " (%d per process, %d processes)" % (self.batch_size, self.world)
        self.say("data: %s, %d samples of %s, batch %d%s, %d iterations per epoch" % (
            spec["data"]["source"], len(x), list(x.shape[1:]), self.global_batch, share, self.iterator.steps_per_epoch))

    def join_group(self):
        """Joins the process group torchrun set up: gloo on CPU, NCCL on CUDA (one device per process)."""
        env = os.environ
        if "LOCAL_RANK" not in env and self.args.local_rank is not None:
            env["LOCAL_RANK"] = str(self.args.local_rank)
        missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in env]
        if missing:
            raise SystemExit("error: WORLD_SIZE is %s but %s not set: start several processes with torchrun "
                             "(torchrun --nproc_per_node=N %s ...)" % (env["WORLD_SIZE"], ", ".join(missing), sys.argv[0]))
        self.rank, self.world, self.local_rank = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"])
        if self.device.type == "cuda":
            if self.local_rank >= torch.cuda.device_count():
                raise SystemExit("error: process %d is local rank %d, but this machine has %d CUDA devices: start at most "
                                 "that many processes per machine (--nproc_per_node)" % (self.rank, self.local_rank, torch.cuda.device_count()))
            self.device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(self.device)
        backend = "nccl" if self.device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend, init_method="env://")
        except (RuntimeError, ValueError) as e:
            raise SystemExit("error: process %d could not join the others (%s, %s:%s): %s" % (self.rank, backend, env["MASTER_ADDR"], env["MASTER_PORT"], e))
        DIST.update(world=self.world, rank=self.rank, sync_bn=not self.args.no_sync_bn)
        self.say("%d processes (%s)%s" % (self.world, backend, "; --no-sync-bn: batch norm over each process's share" if self.args.no_sync_bn else ""))

    @staticmethod
    def parse(spec, argv):
        p = argparse.ArgumentParser(
            description="Trains %s (compiled by ganc from %s)." % (spec["name"], spec["source"]),
            epilog="Several processes: torchrun --nproc_per_node=N %s ... (--batch is each process's share)." % os.path.basename(sys.argv[0]))
        p.add_argument("--steps", type=int, help="iterations to train (default: the spec's)")
        p.add_argument("--epochs", type=int, help="epochs to train, instead of --steps")
        p.add_argument("--batch", type=int, help="batch size (default: the spec's)")
        p.add_argument("--seed", type=int, help="random seed (default: the spec's)")
        p.add_argument("--out", default=os.path.join("runs", spec["name"]), help="run folder (default runs/<name>)")
        p.add_argument("--resume", action="store_true", help="continue from the run folder's newest checkpoint")
        p.add_argument("--data", help="the data folder written by 'ganc data' (x.npy, labels.npy)")
        p.add_argument("--device", choices=["cpu", "cuda"], help="where to train (default: cuda when available)")
        p.add_argument("--amp", action="store_true", help="mixed precision on CUDA (autocast and loss scaling)")
        p.add_argument("--no-sync-bn", action="store_true",
                       help="under torchrun, batch norm uses each process's share of the batch (default: the whole batch)")
        p.add_argument("--init-from", help="start from the variables of a ganc checkpoint (of either trainer)")
        p.add_argument("--sample-to", help="only write a sample grid from the run folder's newest checkpoint to this PNG file (.json: the raw values)")
        p.add_argument("--sample-count", type=int, help="images in that grid (default: the spec's)")
        p.add_argument("--truncation", type=float, help="with --sample-to: psi of truncate() in the samples (1: none, 0: the average w)")
        p.add_argument("--quiet", action="store_true", help="print nothing but errors")
        # What the older launcher, python -m torch.distributed.launch, passes each process without --use-env
        # (--local_rank before PyTorch 2.0, --local-rank after); torchrun sets LOCAL_RANK in the environment.
        p.add_argument("--local-rank", "--local_rank", dest="local_rank", type=int, help=argparse.SUPPRESS)
        return p.parse_args(argv)

    def say(self, line):
        if not self.args.quiet and self.rank == 0:
            print(line, file=sys.stderr, flush=True)

    # ---- declarations ----

    def variable(self, name, shape, init, trainable=True):
        """A variable of ganc's name and layout, its initial values drawn as the TypeScript trainer draws them."""
        if self.args.init_from or self.args.sample_to:  # the values come from a checkpoint: no need to draw them
            v = torch.zeros(shape, device=self.device)
        else:
            v = draw_init(self.init_rng, shape, init).to(self.device, torch.get_default_dtype())
        self.vars[name] = v = torch.nn.Parameter(v) if trainable else v
        return v

    def optimizer(self, step, params, cfg):
        self.optimizers[step] = opt = Optimizer(step, params, cfg)
        if self.amp:
            self.scalers[step] = grad_scaler()  # one per optimizer: each step has its own backward and update
        return opt

    def parallel(self, net, whole):
        """
        The module the steps that train a net run it through. One process: the net itself. Under torchrun, a
        DistributedDataParallel wrapper, one per net whatever the number of steps that use it (D serves both
        the D and the G step), whose hooks average the gradients over the processes during the backward pass.
        The pitfalls of GANs under DDP, and what this trainer does about them:
        - A step runs the nets it does not train as their plain modules, and begin_step turns their variables'
          requires_grad off: G's forward in the D step records no graph, and D's wrapper, which only sees the
          D step's forward passes, never waits for gradients the G step does not compute.
        - find_unused_parameters=False: every variable of a wrapped net reaches the loss of each step that
          trains it (ganc checks this when it compiles; whole=False says it could not, and then the net is not
          wrapped and its gradients are averaged by hand after the backward pass: see backward).
        - broadcast_buffers=False: batch norm's moving statistics are the same in every process already (synced
          statistics), or are sent from rank 0 after each iteration (--no-sync-bn); a broadcast inside forward
          would also hang rank 0's sample grids, which it draws alone (through the plain modules).
        - No no_sync(): each backward pass is followed by its own update, so each must be averaged.
        - D's forward runs several times before one backward (real, fake, the penalty's interpolates): DDP
          counts each variable's gradient once, when the backward pass has added all of its parts.
        """
        if self.world == 1:
            return net
        if not whole:
            self.by_hand.update(id(p) for p in net.parameters())
            return net
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(net, device_ids=ids, broadcast_buffers=False, find_unused_parameters=False)

    def state(self, name, init):
        self.states[name] = torch.tensor(float(init), device=self.device)
        return self.states

    def ema(self, params, decay):
        self.average = WeightAverage(params, decay)

    # ---- the loop ----

    def begin(self):
        if self.args.init_from:
            src = self.args.init_from
            if os.path.isdir(src):  # a folder of <variable>.npy (a trace's init/)
                self.load_variables({n: np.load(os.path.join(src, n + ".npy")) for n in self.vars if os.path.exists(os.path.join(src, n + ".npy"))}, src)
            else:
                self.load_variables(read_checkpoint(src)[1], src)
            if self.average is not None:  # the average starts at the weights loaded (it was made from placeholders)
                with torch.no_grad():
                    for p, s in zip(self.average.params, self.average.shadow):
                        s.copy_(p)
        if self.args.resume or self.args.sample_to:
            self.restore()
        elif os.path.isdir(os.path.join(self.out, "checkpoints")) and any(f.endswith(".ganckpt") for f in os.listdir(os.path.join(self.out, "checkpoints"))):
            raise SystemExit("error: %s already holds checkpoints: pass --resume to continue that run, or choose another --out" % self.out)
        count = self.args.sample_count or self.spec["train"]["sampleCount"]
        # Fixed noise for the sample grids (and labels cycling through the classes), as run-sampling.ts draws it.
        fixed = Rng(_u32(self.seed) ^ 0x5A4D1E)
        d = self.spec["data"]
        self.fixed = Batch({d["name"] + "_label": F.one_hot(torch.arange(count) % d["numClasses"], d["numClasses"]).float().to(self.device)})
        for n in self.spec["noise"]:
            self.fixed[n["name"]] = draw_noise(n, count, fixed, True).to(self.device)
        self.fixed.update((k, v.to(torch.get_default_dtype()) if v.is_floating_point() else v) for k, v in list(self.fixed.items()))
        self.t0 = time.time()
        self.say("training %s: %d iterations%s on %s; run folder %s" % (
            self.spec["name"], self.total_steps, ", resuming at %d" % self.step if self.step else "", self.device, self.out))

    def next(self):
        return self.step < self.total_steps and not self.args.sample_to

    @property
    def truncation(self):
        """psi of truncate() in the samples: --truncation with --sample-to, else 1 (w as it is). Reading it marks that the samples use it."""
        self.truncation_read = True
        return 1.0 if self.args.truncation is None else self.args.truncation

    def batch(self):
        d = self.spec["data"]
        idx = torch.from_numpy(self.iterator.next())
        b = Batch({d["name"]: to_nchw(self.x[idx]).to(self.device)})
        b.number = self.batches_drawn  # which batch of the iteration (diffaug's draws are keyed by it)
        self.batches_drawn += 1
        # The labels as one-hot rows, when the spec reads them (or the first iteration is traced: the record has them).
        if self.labels is not None and d.get("labelled", True) and (d.get("labelsRead", True) or (self.trace and self.step == 0)):
            b[d["name"] + "_label"] = F.one_hot(self.labels[idx], d["numClasses"]).float().to(self.device)
        # Each process draws the whole batch's noise, so that the generator moves alike in all, and keeps its slice.
        lo = self.rank * self.batch_size
        for n in self.spec["noise"]:
            b[n["name"]] = draw_noise(n, self.global_batch, self.rng)[lo:lo + self.batch_size].to(self.device)
        if torch.get_default_dtype() != torch.float32:  # GANC_TRACE_FLOAT64
            b.update((k, v.to(torch.get_default_dtype()) if v.is_floating_point() else v) for k, v in list(b.items()))
        if self.trace and self.step == 0 and not self.traced_batch:
            self.traced_batch = True
            for name, v in self.vars.items():
                self.trace_write("init", name, v)
            if self.average is not None:  # the averaged weights, <variable>/ema, as the TypeScript trainer lists them
                names = {id(v): n for n, v in self.vars.items()}
                for p, s in zip(self.average.params, self.average.shadow):
                    self.trace_write("init", names[id(p)] + "/ema", s)
            for name, t in b.items():
                self.trace_write("batch", name, to_nhwc(t))
        return b

    def trace_write(self, part, name, t):
        file = os.path.join(self.trace, part, name + ".npy")
        os.makedirs(os.path.dirname(file), exist_ok=True)
        np.save(file, t.detach().to(torch.get_default_dtype()).cpu().numpy())

    def begin_step(self, opt):
        """Before a step's forward pass: only its variables record gradients (the other nets run as constants)."""
        switches = self.switches.get(opt.name)
        if switches is None:
            mine = {id(p) for p in opt.params}
            switches = self.switches[opt.name] = [(v, id(v) in mine) for v in self.vars.values() if isinstance(v, torch.nn.Parameter)]
        for v, on in switches:
            if v.requires_grad != on:
                v.requires_grad_(on)
        AMP[0] = self.scalers.get(opt.name)

    def backward(self, opt, loss, step=None):
        """
        The gradients of a step's loss into its variables' .grad: averaged over the processes under torchrun (by
        DDP's hooks, or here for the nets it does not wrap), unscaled again under --amp. A variable the loss
        does not reach keeps .grad None, and its update is skipped (TensorFlow.js leaves it out too).
        """
        for p in opt.params:
            p.grad = None
        scaler = self.scalers.get(opt.name)
        (loss if scaler is None else scaler.scale(loss)).backward()
        if self.by_hand:
            grads = [p.grad for p in opt.params if id(p) in self.by_hand and p.grad is not None]
            if grads:
                flat = torch.cat([g.reshape(-1) for g in grads])
                dist.all_reduce(flat)
                flat /= self.world
                for g, part in zip(grads, flat.split([g.numel() for g in grads])):
                    g.copy_(part.view_as(g))
        if scaler is not None:
            scaler.unscale_(opt)
        if self.trace and self.step == 0:
            # A step the schedule repeats is traced once per run of it: d, d.2, d.3, ...
            name = step or opt.name
            seen = self.traced_steps[name] = self.traced_steps.get(name, 0) + 1
            step = name if seen == 1 else "%s.%d" % (name, seen)
            names = {id(v): n for n, v in self.vars.items()}
            for p in opt.params:
                if p.grad is not None:  # a variable the loss does not reach has no gradient (tfjs leaves it out too)
                    self.trace_write("grad/" + step, names[id(p)], p.grad)

    def update(self, opt):
        """The step's update; under --amp GradScaler skips it when the gradients overflowed, and adjusts its scale."""
        scaler = self.scalers.get(opt.name)
        if scaler is None:
            opt.step()
        else:
            scaler.step(opt)
            scaler.update()
        for p in opt.params:
            p.grad = None  # used: freed now, rather than when the next backward pass of this step replaces it
        AMP[0] = None

    def assign(self, name, value):
        """A state's new value (after ...), averaged over the processes so that all keep the same state."""
        value = value.detach().float().reshape(())
        if self.world > 1:
            value = value.clone()
            dist.all_reduce(value)
            value /= self.world
        self.states[name].copy_(value)

    def autocast(self):
        return autocast_cuda() if self.amp else _NoContext()

    def record(self, values, step=None):
        if self.trace and self.step == 0:
            for k, v in values.items():
                self.trace_write("value", "%d-%s" % (self.traced, k), v)
                self.traced += 1
            replay = os.environ.get("GANC_TRACE_REPLAY")
            if replay and step is not None:
                # Continue from the reference trainer's variables after this step (see GANC_TRACE_REPLAY).
                seen = self.traced_steps.get(step, 1)
                folder = os.path.join(replay, "after", step if seen == 1 else "%s.%d" % (step, seen))
                self.load_variables({n: np.load(os.path.join(folder, n + ".npy")) for n in self.vars}, folder)
        for k, v in values.items():
            self.logged[k] = v

    def logging(self):
        every = self.spec["train"]["logEvery"]
        return (self.step + 1) % every == 0 or self.step + 1 == self.total_steps

    def end_iteration(self):
        self.batches_drawn = 0
        logging = self.logging()
        if self.world > 1 and not DIST["sync_bn"]:
            # --no-sync-bn: each process's moving statistics follow its own share; rank 0's go to all, so that
            # every process (and the checkpoints rank 0 writes) holds the same buffers.
            with torch.no_grad():
                for v in self.vars.values():
                    if not isinstance(v, torch.nn.Parameter):
                        dist.broadcast(v, 0)
        vals = self.global_means(self.logged) if logging else None
        if logging:  # and the states' values, as the TypeScript trainer's metrics rows hold them (the same in every process)
            vals.update((name, float(v)) for name, v in self.states.items())
        if self.kinks is not None and self.step == 0:
            self.kinks.write(self.trace)
        self.step += 1
        if self.average is not None:
            self.average.update()
        t = self.spec["train"]
        if logging:
            self.say("step %d/%d  %s  (%.1f s)" % (self.step, self.total_steps, "  ".join("%s %.4f" % kv for kv in vals.items()), time.time() - self.t0))
            if self.rank == 0:
                with open(os.path.join(self.out, "metrics.jsonl"), "a") as f:
                    f.write(json.dumps(dict(step=self.step, **vals)) + "\n")
        self.logged = {}
        if t["sampleEvery"] and self.step % t["sampleEvery"] == 0:
            self.write_samples()
        every = t["checkpointEvery"]
        every = self.iterator.steps_per_epoch if every == "epoch" else every
        if every and self.step % every == 0 and self.step != self.total_steps:
            self.save()

    def global_means(self, values):
        """Logged values as floats: under torchrun the means over the processes (the whole batch's, for means)."""
        if not values:
            return {}
        if self.world == 1:
            return {k: float(v) for k, v in values.items()}
        t = torch.stack([torch.as_tensor(v, dtype=torch.float32, device=self.device).reshape(()) for v in values.values()])
        dist.all_reduce(t)
        return {k: float(x) / self.world for k, x in zip(values, t.cpu().tolist())}

    def finish(self):
        if self.args.sample_to:
            return self.sample_only(self.args.sample_to)
        self.write_samples()
        self.save()
        self.say("done: %d iterations in %.1f s" % (self.step, time.time() - self.t0))
        if self.world > 1:
            dist.barrier()  # the others wait for rank 0's last checkpoint before the group goes
            dist.destroy_process_group()
        return 0

    def generate(self):
        """
        The samples of the fixed batch, averaged weights swapped in, made GANC_SAMPLE_CHUNK rows (256) at a time
        as the TypeScript trainer makes them (the fixed noise of a noise layer starts over in each chunk).
        """
        n = next(iter(self.fixed.values())).shape[0]
        chunk = int(os.environ.get("GANC_SAMPLE_CHUNK") or 256)
        if self.average is not None:
            self.average.swap()
        try:
            with torch.no_grad():
                parts = [self.sampler(Batch({k: v[i:i + chunk] for k, v in self.fixed.items()})) for i in range(0, n, chunk)]
        finally:
            if self.average is not None:
                self.average.swap()
        return torch.cat(parts, 0)

    def sample_only(self, file):
        """--sample-to: the newest checkpoint's samples as a PNG grid, or as raw NHWC values in JSON (ganc's sample file)."""
        if self.rank != 0:
            return 0
        x = self.generate()
        if self.args.truncation is not None and not self.truncation_read:
            raise SystemExit("error: --truncation %s: this spec's samples do not use truncate(), so psi would change nothing" % self.args.truncation)
        folder = os.path.dirname(os.path.abspath(file))
        os.makedirs(folder, exist_ok=True)
        if file.endswith(".json"):
            v = to_nhwc(x).float().cpu()
            data = [math.floor(t * 1e6 + 0.5) / 1e6 for t in v.reshape(-1).tolist()]  # Math.round's halves
            with open(file, "w") as f:
                json.dump({"shape": list(v.shape), "range": self.spec["sampleRange"], "data": data}, f)
        else:
            write_png(file, sample_grid(x, *self.spec["sampleRange"]))
        self.say("wrote %s from the checkpoint at iteration %d" % (file, self.step))
        return 0

    def write_samples(self):
        if self.rank != 0 or self.sampler is None:
            return
        x = self.generate()
        img = sample_grid(x, *self.spec["sampleRange"])
        write_png(os.path.join(self.out, "samples", "step-%08d.png" % self.step), img)
        write_png(os.path.join(self.out, "samples", "latest.png"), img)

    # ---- checkpoints: ganc's format, in the TypeScript trainer's layout, so either trainer resumes the other's ----
    #   var:<variable> (and var:<variable>/ema), state:<name>, opt:<step>:<i> named by meta["optimizers"][step]
    #   ("iter", then "<spec>/<variable>/<slot>" for each slot of each variable), optx:<step>:accBeta1/accBeta2.

    def tensors(self):
        names = {id(v): n for n, v in self.vars.items()}
        out = {"var:" + name: v.detach().cpu().numpy() for name, v in self.vars.items()}
        if self.average is not None:
            for p, s in zip(self.average.params, self.average.shadow):
                out["var:%s/ema" % names[id(p)]] = s.cpu().numpy()
        for name, s in self.states.items():
            out["state:" + name] = s.detach().cpu().numpy()
        optimizers = {}
        for step, opt in self.optimizers.items():
            slots = Optimizer.SLOTS[opt.cfg["kind"]]
            listed = ["iter"] + ["%s/%s/%s" % (self.spec["name"], names[id(p)], slot) for slot in slots for p in opt.params]
            arrays = [np.array(opt.t, np.int32)] + [s.cpu().numpy() for k in range(len(slots)) for s in opt.slots[k]]
            optimizers[step] = listed
            for i, a in enumerate(arrays):
                out["opt:%s:%d" % (step, i)] = a
            if opt.cfg["kind"] == "adam":
                out["optx:%s:accBeta1" % step] = np.array(opt.acc_beta1, np.float32)
                out["optx:%s:accBeta2" % step] = np.array(opt.acc_beta2, np.float32)
        return out, optimizers

    def save(self):
        if self.rank != 0:
            return
        tensors, optimizers = self.tensors()
        for name, a in tensors.items():
            if name.startswith("var:") and not np.isfinite(a).all():
                raise SystemExit("error: variable %s is not finite at iteration %d (a NaN or Inf gradient reached it): training stopped" % (name[4:], self.step))
        meta = {"spec": self.spec["name"], "specHash": self.spec["hash"], "step": self.step, "iterator": self.iterator.state(),
                "rng": self.rng.state(), "dropoutSeed": DROPOUT_SEED[0], "optimizers": optimizers, "backend": "pytorch-" + self.device.type,
                "batch": self.global_batch, "processes": self.world, "seed": self.seed}
        folder = os.path.join(self.out, "checkpoints")
        write_checkpoint(os.path.join(folder, "ckpt-%08d.ganckpt" % self.step), self.step, meta, tensors)
        keep = self.spec["train"]["keepCheckpoints"]
        old = sorted(f for f in os.listdir(folder) if f.endswith(".ganckpt"))
        for f in old[:-keep] if keep else []:
            os.remove(os.path.join(folder, f))

    def load_variables(self, tensors, file):
        """The variables from a checkpoint (var:<name>) or a folder of <name>.npy."""
        with torch.no_grad():
            for name, v in self.vars.items():
                t = tensors.get("var:" + name, tensors.get(name))
                if t is None:
                    raise SystemExit("error: %s has no variable %s" % (file, name))
                if list(t.shape) != list(v.shape):
                    raise SystemExit("error: %s: %s is %s, the trainer's is %s" % (file, name, list(t.shape), list(v.shape)))
                v.copy_(torch.from_numpy(np.ascontiguousarray(t)))

    def restore(self):
        folder = os.path.join(self.out, "checkpoints")
        files = sorted(f for f in os.listdir(folder) if f.endswith(".ganckpt"))
        if not files:
            raise SystemExit("error: --resume, but %s holds no checkpoint" % folder)
        file = os.path.join(folder, files[-1])
        meta, tensors = read_checkpoint(file)
        if meta.get("specHash") != self.spec["hash"]:
            raise SystemExit("error: %s was written by a different spec (or a different version of it); start a new run folder" % file)
        if meta.get("batch") != self.global_batch:
            # The data order's position counts whole batches: the run goes on with the batch it was trained with,
            # shared by any number of processes.
            was = meta.get("batch")
            hint = "; pass --batch %d" % (was // self.world) if isinstance(was, int) and was % self.world == 0 else ""
            raise SystemExit("error: --resume: the checkpoint was trained with a batch of %s in all, not %d (%d process%s of %d)%s" % (
                was, self.global_batch, self.world, "" if self.world == 1 else "es", self.batch_size, hint))
        self.load_variables(tensors, file)
        names = {id(v): n for n, v in self.vars.items()}
        with torch.no_grad():
            for name, s in self.states.items():
                s.copy_(torch.from_numpy(tensors["state:" + name]).reshape(()))
            if self.average is not None:
                for p, s in zip(self.average.params, self.average.shadow):
                    s.copy_(torch.from_numpy(tensors["var:%s/ema" % names[id(p)]]))
            for step, opt in self.optimizers.items():
                listed = meta["optimizers"].get(step, [])
                slots = Optimizer.SLOTS[opt.cfg["kind"]]
                by_name = {n: tensors["opt:%s:%d" % (step, i)] for i, n in enumerate(listed)}
                opt.t = int(by_name.get("iter", 0))
                for k, slot in enumerate(slots):
                    for p, s in zip(opt.params, opt.slots[k]):
                        s.copy_(torch.from_numpy(by_name["%s/%s/%s" % (self.spec["name"], names[id(p)], slot)]))
                if opt.cfg["kind"] == "adam":
                    c = opt.cfg
                    a1, a2 = tensors.get("optx:%s:accBeta1" % step), tensors.get("optx:%s:accBeta2" % step)
                    opt.acc_beta1 = np.float32(float(a1) if a1 is not None else c["beta1"] ** (opt.t + 1))
                    opt.acc_beta2 = np.float32(float(a2) if a2 is not None else c["beta2"] ** (opt.t + 1))
        self.step = meta["step"]
        self.iterator.restore(meta["iterator"])
        self.rng = Rng.from_state(meta["rng"])
        DROPOUT_SEED[0] = int(meta.get("dropoutSeed", 1))
        self.say("resumed from %s (written by the %s trainer)" % (file, "PyTorch" if str(meta.get("backend", "")).startswith("pytorch") else "TypeScript"))


class _NoContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _u32(x):
    return x & M32
`;

/** Top-level names the runtime defines (functions, classes, constants): the trainer's own names must not shadow them. */
export const PY_RUNTIME_NAMES: readonly string[] = [...PY_RUNTIME.matchAll(/^(?:(?:def|class) (\w+)|([A-Za-z_]\w*) =)/gm)].map((m) => (m[1] ?? m[2])!);
