/*
 * The part of the vendored Python runtime that the newer layers and functions need (layers.ts and
 * functions.ts call it): spectral normalization, TensorFlow's pooling and bilinear upsampling, dropout's
 * masks from TensorFlow.js's own generator (seedrandom's alea, ported), self-attention, conditional batch
 * norm, minibatch standard deviation and DiffAugment with its hash-keyed draws. Each is the TypeScript
 * runtime's formula, step for step, on ganc's NHWC layout where the layout matters. Python source in a raw
 * template string: no backticks and no dollar-brace in it.
 */

export const PY_LAYER_RUNTIME = String.raw`# ---- layers and functions of the newer constructs (src/layers, src/functions: the same formulas) ---------------

def l2_normalize(t):
    return t / (torch.norm(t) + 1e-12)


def spectral_norm(kernel, u, mode):
    """
    The kernel divided by its largest singular value, estimated by one power iteration from u ([1, out]),
    as ganc's trainers do it: the kernel viewed as [-1, out] (its last axis), v and u's update held constant,
    u updated in "train" mode only; the gradient flows through sigma = v W u'.
    """
    w = kernel.reshape(-1, kernel.shape[-1])
    with torch.no_grad():
        v = l2_normalize(u @ w.t())
        un = l2_normalize(v @ w)
        if mode == "train":
            u.copy_(un)
    sigma = torch.sum((v @ w) * un)
    return kernel / sigma


def avg_pool(x, size, stride, pad):
    """Average pooling as TensorFlow's: 'same' padding pad = (top, bottom, left, right) averages only the positions inside."""
    if not any(pad):
        return F.avg_pool2d(x, size, stride)
    top, bottom, left, right = pad
    ones = torch.ones_like(x[:1, :1])
    total = F.avg_pool2d(F.pad(x, (left, right, top, bottom)), size, stride)
    inside = F.avg_pool2d(F.pad(ones, (left, right, top, bottom)), size, stride)
    return total / inside


def bilinear_weights(n, factor, device):
    """The [n * factor, n] matrix of bilinear upsampling with half-pixel centers (upsample.ts bilinearWeights)."""
    a = np.zeros((n * factor, n), np.float32)
    for o in range(n * factor):
        src = max((o + 0.5) / factor - 0.5, 0.0)
        i0 = min(int(math.floor(src)), n - 1)
        i1 = min(i0 + 1, n - 1)
        t = src - i0
        a[o, i0] += np.float32(1 - t)
        a[o, i1] += np.float32(t)
    return torch.from_numpy(a).to(device, torch.get_default_dtype())


def upsample_bilinear(x, factor):
    """Bilinear upsampling, one interpolation matrix per axis (differentiable to any order)."""
    ah = bilinear_weights(x.shape[2], factor, x.device)
    aw = bilinear_weights(x.shape[3], factor, x.device)
    return torch.matmul(torch.matmul(ah, x), aw.t())


def _u32f(x):
    """JavaScript's x >>> 0 of a non-negative number."""
    return int(math.floor(x)) % 4294967296


class Alea:
    """seedrandom's alea (Baagoe), the generator TensorFlow.js's randomUniform draws from, for a string seed."""

    def __init__(self, seed):
        n = [0xEFC8249D]

        def mash(data):
            k = n[0]
            for ch in str(data):
                k += ord(ch)
                h = 0.02519603282416938 * k
                k = _u32f(h)
                h -= k
                h *= k
                k = _u32f(h)
                h -= k
                k += h * 4294967296
            n[0] = k
            return _u32f(k) * 2.3283064365386963e-10

        self.c = 1
        self.s0, self.s1, self.s2 = mash(" "), mash(" "), mash(" ")
        self.s0 -= mash(seed)
        if self.s0 < 0:
            self.s0 += 1
        self.s1 -= mash(seed)
        if self.s1 < 0:
            self.s1 += 1
        self.s2 -= mash(seed)
        if self.s2 < 0:
            self.s2 += 1

    def fill(self, count):
        out = np.empty(count, np.float64)
        s0, s1, s2, c = self.s0, self.s1, self.s2, self.c
        for i in range(count):
            t = 2091639 * s0 + c * 2.3283064365386963e-10
            s0, s1 = s1, s2
            c = int(t)
            s2 = t - c
            out[i] = s2
        self.s0, self.s1, self.s2, self.c = s0, s1, s2, c
        return out


DROPOUT_SEED = [1]


def dropout_seed():
    """A fresh seed for each dropout call (every pass through the layer, in every mode), as ganc's run counts them."""
    s = DROPOUT_SEED[0]
    DROPOUT_SEED[0] += 1
    return s


def dropout(x, rate, mode, seed):
    """
    tf.dropout(x, rate, seed) in "train" mode: its uniform draws over ganc's NHWC layout, floor(u + keep) / keep,
    in float32. Under torchrun each process draws the whole batch's mask (its batch times the processes, in
    rank order) and keeps its own samples' part, as it does with the noise: the masks of one process's batch.
    """
    if mode != "train" or rate <= 0:
        return x
    shape = list(to_nhwc(x).shape)
    keep = np.float32(1 - rate)
    n = int(np.prod(shape))
    rank = DIST["rank"] if DIST["world"] > 1 else 0
    u = Alea(str(seed)).fill(n * max(DIST["world"], 1))[rank * n:(rank + 1) * n].astype(np.float32)
    kept = np.floor((u.astype(np.float64) + np.float64(keep)).astype(np.float32))
    m = (kept.astype(np.float64) / np.float64(keep)).astype(np.float32)
    return x * to_nchw(torch.from_numpy(m.reshape(shape)).to(x.device))


def max_pool2(t):
    """2x2 max pooling of NHWC t, the gradient to each window's first largest entry (attention.ts maxPool2Runtime)."""
    b, h, w, c = t.shape
    win = t.reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 5, 2, 4).reshape(b, h // 2, w // 2, c, 4)
    mask = F.one_hot(torch.argmax(win.detach(), -1), 4).to(t.dtype)
    return torch.sum(win * mask, -1)


def self_attention(x, f, g, h, o, gamma):
    """SAGAN's self-attention (attention.ts selfAttentionRuntime) on ganc's NHWC layout: x + gamma * o(softmax(q k') v)."""
    xn = to_nhwc(x)
    b, hh, ww, c = xn.shape
    n = hh * ww

    def conv1(t, k):
        return torch.matmul(t, k.reshape(k.shape[2], k.shape[3]))

    q = conv1(xn, f).reshape(b, n, c // 8)
    k = max_pool2(conv1(xn, g)).reshape(b, n // 4, c // 8)
    v = max_pool2(conv1(xn, h)).reshape(b, n // 4, c // 2)
    s = torch.matmul(q, k.transpose(1, 2))
    e = torch.exp(s - torch.max(s, -1, keepdim=True)[0].detach())
    attn = e / torch.sum(e, -1, keepdim=True)
    a = torch.matmul(attn, v).reshape(b, hh, ww, c // 2)
    return x + gamma * to_nchw(conv1(a, o))


def cond_batch_norm(x, c, w_gain, w_bias, moving_mean, moving_var, decay, eps, mode):
    """Batch norm without scale and offset, times the per-sample gain 1 + c W_gain, plus c W_bias (ops.ts condBatchNorm)."""
    y = batch_norm(x, None, None, moving_mean, moving_var, decay, eps, mode)
    per = [x.shape[0], -1] + [1] * (x.dim() - 2)
    return y * (c @ w_gain + 1).reshape(per) + (c @ w_bias).reshape(per)


def minibatch_stddev(x, group, features):
    """StyleGAN2's minibatch standard deviation (minibatch-stddev.ts), on ganc's NHWC layout."""
    xn = to_nhwc(x)
    n, h, w, c = xn.shape
    g = min(group, n)
    if n % g != 0:
        raise SystemExit("error: minibatch_stddev: the batch of %d is not a multiple of its group of %d; choose a batch size that is (--batch), or group=%d" % (n, g, math.gcd(n, g)))
    m = n // g
    y = xn.reshape(g, m, h, w, features, c // features)
    centred = y - torch.mean(y, 0, keepdim=True)
    std = torch.sqrt(torch.mean(centred ** 2, 0) + 1e-8)
    s = torch.mean(std, (1, 2, 4))
    maps = s.reshape(1, m, 1, 1, features).expand(g, m, h, w, features).reshape(n, h, w, features)
    return to_nchw(torch.cat([xn, maps], 3))


def key_state(key):
    """A generator state from a string: the 128-bit hash cyrb128 (rng.ts keyState)."""
    h1, h2, h3, h4 = 1779033703, 3144134277, 1013904242, 2773480762
    for ch in key:
        k = ord(ch)
        h1 = h2 ^ (((h1 ^ k) * 597399067) & M32)
        h2 = h3 ^ (((h2 ^ k) * 2869860233) & M32)
        h3 = h4 ^ (((h3 ^ k) * 951274213) & M32)
        h4 = h1 ^ (((h4 ^ k) * 2716044179) & M32)
    h1 = ((h3 ^ (h1 >> 18)) * 597399067) & M32
    h2 = ((h4 ^ (h2 >> 22)) * 2869860233) & M32
    h3 = ((h1 ^ (h3 >> 17)) * 951274213) & M32
    h4 = ((h2 ^ (h4 >> 19)) * 2716044179) & M32
    h1 ^= h2 ^ h3 ^ h4
    h2 ^= h1
    h3 ^= h1
    h4 ^= h1
    words = [h1, h2, h3, h4]
    return [1, 0, 0, 0] if not any(words) else words


def augment_key(run, b, site):
    """The draws of one diffaug call: keyed by the seed, the iteration, the batch within it (-1: not drawn by batch()) and the call site."""
    return key_state("diffaug/%d/%d/%d/%s" % (run.seed, run.step, b.__dict__.get("number", -1), site))


DIFFAUG_OPS = {"color": 1, "translation": 2, "cutout": 4}


def _shift_matrices(shift, side):
    m = np.zeros((len(shift), side, side), np.float32)
    for b, s in enumerate(shift):
        for i in range(side):
            if 0 <= i + s < side:
                m[b, i, i + s] = 1
    return m


def diff_augment(x, policy, key):
    """DiffAugment (functions/diffaug.ts): color, translation, cutout with the draws of the generator at state key."""
    mask = 0
    for word in policy.split(","):
        mask |= DIFFAUG_OPS[word.strip()]
    rng = Rng.from_state(key)
    y = to_nhwc(x)
    n, h, w, c = y.shape
    dev = x.device

    def per_sample(v):
        return torch.from_numpy(np.array(v, np.float32).reshape(n, 1, 1, 1)).to(dev)

    def uniform(f):
        return [np.float32(f(rng.uniform())) for _ in range(n)]

    def integer(lo, hi):
        return lo + int(math.floor(rng.uniform() * (hi - lo)))

    if mask & 1:
        brightness = uniform(lambda u: u - 0.5)
        saturation = uniform(lambda u: u * 2)
        contrast = uniform(lambda u: u + 0.5)
    if mask & 2:
        sy, sx = int(math.floor(h * 0.125 + 0.5)), int(math.floor(w * 0.125 + 0.5))
        dy = [integer(-sy, sy + 1) for _ in range(n)]
        dx = [integer(-sx, sx + 1) for _ in range(n)]
    if mask & 4:
        ch, cw = int(math.floor(h * 0.5 + 0.5)), int(math.floor(w * 0.5 + 0.5))
        cy = [integer(0, h + 1 - ch % 2) for _ in range(n)]
        cx = [integer(0, w + 1 - cw % 2) for _ in range(n)]
    if mask & 1:
        y = y + per_sample(brightness)
        pixel = torch.mean(y, 3, keepdim=True)
        y = (y - pixel) * per_sample(saturation) + pixel
        image = torch.mean(y, (1, 2, 3), keepdim=True)
        y = (y - image) * per_sample(contrast) + image
    if mask & 2:
        rows = torch.from_numpy(_shift_matrices(dy, h)).to(dev, y.dtype)
        y = torch.matmul(rows, y.reshape(n, h, w * c)).reshape(n, h, w, c)
        cols = torch.from_numpy(_shift_matrices(dx, w)).to(dev, y.dtype)
        t = y.permute(0, 2, 1, 3).reshape(n, w, h * c)
        y = torch.matmul(cols, t).reshape(n, w, h, c).permute(0, 2, 1, 3)
    if mask & 4:
        keep = np.ones((n, h, w, 1), np.float32)
        for b in range(n):
            top, left = cy[b] - ch // 2, cx[b] - cw // 2
            keep[b, max(top, 0):min(top + ch, h), max(left, 0):min(left + cw, w)] = 0
        y = y * torch.from_numpy(keep).to(dev)
    return to_nchw(y)


def lazy_gradients(params, k):
    """A lazy step's gradients (every(k, step)) in the variables' .grad: scaled by k, and zeros for the variables its loss does not reach."""
    for p in params:
        p.grad = torch.zeros_like(p) if p.grad is None else p.grad * k

# ---- StyleGAN2's constructs (src/layers/modconv.ts, noise.ts, const.ts, pixelnorm.ts, style.ts, track-avg.ts;
# src/functions/styles.ts, mix.ts, truncate.ts) ------------------------------------------------------------------

def pixel_norm(x, eps):
    """x / sqrt(mean(x^2) + eps) over ganc's last axis: a vector's features, an image's channels (NCHW axis 1)."""
    axis = 1 if x.dim() == 4 else -1
    return x * torch.rsqrt(torch.mean(torch.square(x), axis, keepdim=True) + eps)


def mod_conv(x, style, kernel, affine, affine_bias, bias, demod):
    """
    StyleGAN2's modulated convolution in its non-fused form (modconv.ts modConvOf): the style
    s = w A / sqrt(wdim) + b scales the input channels of a convolution with the equalized weight
    W / sqrt(k * k * in) ([k, k, in, out], ganc's layout; 'same' padding of an odd kernel, stride 1);
    demodulation divides each sample's output channel o by sqrt(sum_i s_i^2 sum_(kh, kw) W'[kh, kw, i, o]^2 + 1e-8).
    """
    n = x.shape[0]
    kh, kw, cin, cout = kernel.shape
    s = style @ (affine * (1 / math.sqrt(affine.shape[0]))) + affine_bias
    w = kernel * (1 / math.sqrt(kh * kw * cin))
    y = conv2d(x * s.reshape(n, cin, 1, 1), w, None, 1, (kh // 2, kh // 2, kw // 2, kw // 2))
    if demod:
        d = torch.rsqrt(torch.square(s) @ torch.sum(torch.square(w), (0, 1)) + 1e-8)
        y = y * d.reshape(n, cout, 1, 1)
    if bias is not None:
        y = y + bias.reshape(1, cout, 1, 1)
    return y


def const_input(value, n):
    """A learned tensor of ganc's per-sample layout (an image [h, w, c]) repeated over a batch of n."""
    t = value.unsqueeze(0).expand([n] + list(value.shape))
    return to_nchw(t)


def random_normal(count, seed):
    """
    tf.randomNormal([count], 0, 1, "float32", seed): the Marsaglia polar method on seedrandom's alea (TensorFlow.js's
    MPRandGauss). Long runs draw alea's numbers by lanes (alea_draws) and the pairs' acceptance as array operations;
    the same numbers as the draw-by-draw loop (random_normal_each), 3-5x faster for 4,096-32,768 values (StyleGAN2's
    noise maps) and about 1.3x for 262,144, where the per-value math.log dominates.
    """
    g = Alea(str(seed))
    if count < 1024:
        return random_normal_each(count, g)
    z = alea_number(g)
    pairs = (count + 1) // 2
    out = np.empty(2 * pairs, np.float64)
    got = 0
    while got < pairs:
        want = pairs - got
        drawn = want * 13 // 10 + 64  # a pair is kept with probability pi/4
        u, z = alea_draws(z, 2 * drawn)
        v1, v2 = 2 * u[0::2] - 1, 2 * u[1::2] - 1
        q = v1 * v1 + v2 * v2
        kept = np.flatnonzero((q < 1) & (q != 0))[:want]
        q, v1, v2 = q[kept], v1[kept], v2[kept]
        # The platform's log, as the loop takes it (NumPy's log differs from it in the last bit for some q).
        log = np.fromiter(map(math.log, q.tolist()), np.float64, len(q))
        mul = np.sqrt(-2.0 * log / q)
        out[2 * got:2 * (got + len(kept)):2] = v1 * mul
        out[2 * got + 1:2 * (got + len(kept)):2] = v2 * mul
        got += len(kept)
    return out[:count].astype(np.float32)


def random_normal_each(count, g):
    """random_normal from the generator g, one draw at a time."""
    s0, s1, s2, c = g.s0, g.s1, g.s2, g.c
    out = np.empty(count + 1, np.float64)
    i = 0
    while i < count:
        while True:
            t = 2091639 * s0 + c * 2.3283064365386963e-10
            s0, s1 = s1, s2
            c = int(t)
            s2 = t - c
            v1 = 2 * s2 - 1
            t = 2091639 * s0 + c * 2.3283064365386963e-10
            s0, s1 = s1, s2
            c = int(t)
            s2 = t - c
            v2 = 2 * s2 - 1
            q = v1 * v1 + v2 * v2
            if q < 1 and q != 0:
                break
        mul = math.sqrt(-2.0 * math.log(q) / q)
        out[i] = v1 * mul
        out[i + 1] = v2 * mul
        i += 2
    return out[:count].astype(np.float32)


# Alea as integers: every state value s is a multiple of 2^-32 and each step computes t = a s0 + c 2^-32 exactly
# (a = 2091639 < 2^21), so alea is a multiply-with-carry generator of lag 3 in base b = 2^32:
# x_n = (a x_(n-3) + c_(n-1)) mod b, c_n = (a x_(n-3) + c_(n-1)) div b, with x = s b. Its state is one number,
# Z = c + a (x_(n-2) + b x_(n-1) + b^2 x_n) (0 < Z < m = a b^3 - 1): the next draw is Z mod b, and the state
# after it is Z / b modulo m (b Z' - Z = m x_(n+1)). So the state k draws on is Z b^-k mod m.
ALEA_A = 2091639
ALEA_M = ALEA_A * 2 ** 96 - 1
ALEA_BINV = ALEA_A << 64  # b^-1 modulo m: b (a b^2) = m + 1


def alea_number(g):
    """The state number Z of the alea generator g."""
    x = [int(s * 4294967296) for s in (g.s0, g.s1, g.s2)]
    return g.c + ALEA_A * (x[0] + (x[1] << 32) + (x[2] << 64))


def alea_draws(z, n):
    """
    n draws of alea (float64 multiples of 2^-32) from the state number z, and the state number after them.
    The draws go by lanes of L: lane j starts at state z b^(-jL) mod m, and all lanes take their steps side by
    side, in uint64 arithmetic (a x + c < 2^53).
    """
    steps = max(16, int(math.sqrt(n)) // 2)
    lanes = -(-n // steps)
    jump = pow(ALEA_BINV, steps, ALEA_M)
    states = [z]
    for _ in range(lanes - 1):
        states.append(states[-1] * jump % ALEA_M)
    x = [w // ALEA_A for w in states]
    s0, s1, s2, c = (np.array(v, np.uint64) for v in ([w & M32 for w in x], [(w >> 32) & M32 for w in x], [w >> 64 for w in x], [w % ALEA_A for w in states]))
    a, low, shift = np.uint64(ALEA_A), np.uint64(M32), np.uint64(32)
    out = np.empty((steps, lanes), np.uint64)
    for i in range(steps):
        t = s0 * a + c
        c = t >> shift
        s0, s1, s2 = s1, s2, t & low
        out[i] = s2
    draws = np.empty((lanes, steps), np.float64)
    np.multiply(out.T, 2.0 ** -32, out=draws)
    draws = draws.reshape(-1)[:n]
    return draws, z * pow(ALEA_BINV, n, ALEA_M) % ALEA_M


def add_noise(x, strength, seed):
    """
    StyleGAN2's noise input x + n * s (noise.ts): n [batch, h, w, 1] standard normal from the seed, the same for
    every channel. Under torchrun each process holds its share of the whole batch: it draws the whole batch's
    maps, as one process would, and keeps its own (rank 0 sampling alone keeps the first ones, the same).
    """
    b, _, h, w = x.shape
    per = b * h * w
    lo = DIST["rank"] * per
    n = torch.from_numpy(random_normal(per * DIST["world"], seed)[lo:lo + per].reshape(b, 1, h, w)).to(x.device)
    return x + n * strength.reshape(1, -1, 1, 1)


def track_average(x, avg, decay, mode):
    """x; a training pass moves avg toward the batch mean of x (the whole batch's under torchrun), off the gradient tape."""
    if mode == "train":
        with torch.no_grad():
            m = x.detach().mean(0)
            if DIST["world"] > 1:
                m = m.clone()
                dist.all_reduce(m)
                m /= DIST["world"]
            avg.copy_(avg * decay + m * (1 - decay))
    return x


def styles(w, n):
    """The style stack [batch, n, wdim] with every layer's style w."""
    return w.unsqueeze(1).expand(-1, n, -1)


def mix_styles(w1, w2, n, p, key):
    """
    Style mixing (mix.ts): a cutoff drawn uniformly from [1, n), then u; when u < p the layers from the cutoff on
    take w2, else all take w1; the draws from the generator at the call's key, as the TypeScript trainer's.
    """
    rng = Rng.from_state(key)
    cutoff = 1 + int(math.floor(rng.uniform() * (n - 1)))
    c = cutoff if rng.uniform() < p else n
    from_w2 = (torch.arange(n, device=w1.device) >= c).reshape(1, n, 1)
    return torch.where(from_w2, w2.unsqueeze(1).expand(-1, n, -1), w1.unsqueeze(1).expand(-1, n, -1))


def truncate(w, avg, psi):
    """The truncation trick: w_avg + psi (w - w_avg); w itself when psi is 1."""
    if psi == 1:
        return w
    return avg + (w - avg) * psi
`;

/** Top-level names it defines (the trainer's own names must not shadow them). */
export const PY_LAYER_RUNTIME_NAMES: readonly string[] = [...PY_LAYER_RUNTIME.matchAll(/^(?:(?:def|class) (\w+)|([A-Za-z_]\w*) =)/gm)].map((m) => (m[1] ?? m[2])!);
