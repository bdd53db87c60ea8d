/**
 * The catalog of diagnostic codes: one code per problem, each with a title, an explanation, and a wrong and a
 * right example. Code sites write `C.E0113` (a key of this catalog, so an unknown code does not compile);
 * `ganc explain E0113` prints the entry; `test/parser/codes.test.ts` checks that every wrong example
 * produces exactly its code and every right example produces nothing.
 *
 * Examples are `.gan` (or YAML) snippets. Unless `whole` is set, a snippet is completed with the base spec
 * below: each of its declarations replaces the base's declaration of the same kind and name (`net D`,
 * `loss g`, `train`, a YAML top-level key), the others are added at the end (see `completeExample`).
 */
import { DATA_SOURCES } from "./signatures.ts";

export interface Example {
  readonly text: string;
  /** YAML instead of `.gan`. */
  readonly yaml?: boolean;
  /** The example is a whole file, not a snippet completed with the base spec. */
  readonly whole?: boolean;
  /** What `ganc explain` shows instead of a text too long to print. */
  readonly shown?: string;
}

export interface CodeInfo {
  readonly title: string;
  readonly explanation: string;
  /** Absent only where a snippet cannot show it (`noExample` says why, and a baseline in test/errors must). */
  readonly wrong?: Example;
  readonly right?: Example;
  readonly noExample?: string;
}

const gan = (text: string, whole = false): Example => (whole ? { text, whole } : { text });
const yaml = (text: string, whole = false): Example => (whole ? { text, yaml: true, whole } : { text, yaml: true });

/** The spec that snippets are completed with: a small MLP GAN on ring8 that checks clean. */
export const BASE_GAN = `data real: ring8(batch=64)
noise z: normal(0, 1, [4])
net G(z) {
  dense 16, relu
  dense 2
}
net D(x) {
  dense 16, lrelu 0.2
  dense 1 -> logit
}
fake = G(z)
loss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)
loss g = bce_logits(D(fake).logit, ones)
step d: adam(lr=1e-3) minimize d over D
step g: adam(lr=1e-3) minimize g over G
train { steps=100, schedule=[d, g] }
`;

/** Nets for an MNIST data source, for examples about MNIST's arguments and label. */
const MNIST_NETS = "net G(z) {\n  dense 16, relu\n  dense 784, reshape [28, 28, 1]\n}\nnet D(x) {\n  flatten, dense 16, lrelu 0.2\n  dense 1 -> logit\n}";

/** The same spec in YAML, one top-level key per block. */
export const BASE_YAML = `data:
  real: { source: ring8, batch: 64 }
noise:
  z: { dist: normal, mean: 0, std: 1, shape: [4] }
nets:
  G: { inputs: [z], layers: [dense 16, relu, dense 2] }
  D: { inputs: [x], layers: [dense 16, lrelu 0.2, dense 1 -> logit] }
values:
  fake: G(z)
losses:
  d: bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)
  g: bce_logits(D(fake).logit, ones)
steps:
  d: { optimizer: { adam: { lr: 1.0e-3 } }, minimize: d, over: [D] }
  g: { optimizer: { adam: { lr: 1.0e-3 } }, minimize: g, over: [G] }
train:
  steps: 100
  schedule: [d, g]
`;

/** Declarations of a spec text: a block starts at a line that is not indented, not `}` and not a comment. */
function blocks(text: string): { key: string; text: string }[] {
  const out: { key: string; text: string }[] = [];
  for (const line of text.replace(/\n$/, "").split("\n")) {
    const m = /^(\w+)(?:[ \t]+(\w+))?/.exec(line);
    const starts = m !== null && !/^(minimize|over)\b/.test(line);
    if (starts) {
      // `fake = G(z)`, `data:`: one word; `net G(z)`, `loss g =`: the keyword and the name.
      const two = m[2] !== undefined && !/^\w+\s*[:=]/.test(line);
      out.push({ key: two ? `${m[1]} ${m[2]}` : m[1]!, text: line });
    } else if (out.length > 0) out[out.length - 1]!.text += "\n" + line;
    else out.push({ key: "", text: line });
  }
  return out;
}

/** The whole spec an example stands for. */
export function completeExample(ex: Example): string {
  if (ex.whole) return ex.text;
  const base = blocks(ex.yaml ? BASE_YAML : BASE_GAN);
  const mine = blocks(ex.text);
  const used = new Set<string>();
  const merged = base.map((b) => {
    const m = mine.find((x) => x.key === b.key);
    if (!m) return b.text;
    used.add(m.key);
    return m.text;
  });
  for (const m of mine) if (!used.has(m.key)) merged.push(m.text);
  return merged.join("\n") + "\n";
}

export const CATALOG = {
  // ---- E00xx: reading the text ----
  E0001: {
    title: "unexpected character",
    explanation: "The lexer met a character that no token of the language starts with. Non-UTF-8 bytes show up as U+FFFD.",
    wrong: gan("loss g = bce_logits(D(fake).logit, ones) ? 1"),
    right: gan("loss g = bce_logits(D(fake).logit, ones)"),
  },
  E0002: {
    title: "syntax error",
    explanation: "The tokens do not form a declaration: something is missing or out of place. The message says what the parser expected and what it found.",
    wrong: gan("loss g = bce_logits(D(fake).logit, ones"),
    right: gan("loss g = bce_logits(D(fake).logit, ones)"),
  },
  E0003: {
    title: "nesting too deep",
    explanation: "Parentheses, brackets, braces or unary minuses nest more than 200 levels deep. Split the expression into named values.",
    wrong: { ...gan(`loss g = ${"(".repeat(201)}bce_logits(D(fake).logit, ones)${")".repeat(201)}`), shown: "loss g = ((((...201 levels...bce_logits(D(fake).logit, ones)...))))" },
    right: gan("loss g = bce_logits(D(fake).logit, ones)"),
  },
  E0004: {
    title: "empty spec",
    explanation: "The file holds no declarations at all (only white space or comments). Start from `ganc init`.",
    wrong: gan("# nothing here yet\n", true),
    right: gan(BASE_GAN, true),
  },
  E0005: {
    title: "unterminated string",
    explanation: "A string opened with `\"` has no closing quote on the same line.",
    wrong: gan('gan "ring8\n' + BASE_GAN, true),
    right: gan('gan "ring8"\n' + BASE_GAN, true),
  },
  E0006: {
    title: "'=>' instead of '->'",
    explanation: "A layer's output is made a tap with `->`, not `=>`.",
    wrong: gan("net D(x) {\n  dense 16, lrelu 0.2\n  dense 1 => logit\n}"),
    right: gan("net D(x) {\n  dense 16, lrelu 0.2\n  dense 1 -> logit\n}"),
  },
  E0007: {
    title: "file too large",
    explanation: "A spec may be at most 4 MB; a larger file is refused before it is parsed (a 10,000-line spec is about 300 KB).",
    noExample: "a 4 MB example does not fit here; test/errors/ten-megabytes shows it",
  },
  E0008: {
    title: "single-quoted string",
    explanation: "Strings are written in double quotes.",
    wrong: gan("data real: mnist(batch=64, path='digits')"),
    right: gan("data real: ring8(batch=64)"),
  },

  // ---- E01xx: names, declarations and arguments ----
  E0101: {
    title: "unknown layer",
    explanation: "A net's layer names an operation that does not exist. The layers are dense, conv2d (conv), conv2dTranspose (deconv), batchnorm (bn), layernorm, dropout, reshape, flatten, concat, upsample and the activations.",
    wrong: gan("net G(z) {\n  dense 16, relu\n  dens 2\n}"),
    right: gan("net G(z) {\n  dense 16, relu\n  dense 2\n}"),
  },
  E0102: {
    title: "concat of a name that is not an input of the net",
    explanation: "`concat(y)` concatenates another input of the same net; `y` must be one of the net's declared inputs.",
    wrong: gan("net G(z, y) {\n  concat(w), dense 2\n}\nfake = G(z, z)"),
    right: gan("net G(z, y) {\n  concat(y), dense 2\n}\nfake = G(z, z)"),
  },
  E0103: {
    title: "tap defined twice",
    explanation: "Each tap name (`-> name`) may be used once per net, and `out` is reserved for the net's final output.",
    wrong: gan("net D(x) {\n  dense 16 -> logit, lrelu 0.2\n  dense 1 -> logit\n}"),
    right: gan("net D(x) {\n  dense 16 -> hidden, lrelu 0.2\n  dense 1 -> logit\n}"),
  },
  E0104: {
    title: "net without layers",
    explanation: "A net needs at least one layer.",
    wrong: gan("net G(z) {\n}"),
    right: gan("net G(z) {\n  dense 2\n}"),
  },
  E0105: {
    title: "net without inputs",
    explanation: "A net is a function of at least one input, like `net G(z)`.",
    wrong: gan("net Q() {\n  relu\n}\nm = mean(Q())"),
    right: gan("net Q(x) {\n  relu\n}\nm = mean(Q(fake))"),
  },
  E0106: {
    title: "input listed twice",
    explanation: "Each input of a net has its own name.",
    wrong: gan("net G(z, z) {\n  dense 2\n}\nfake = G(z, z)"),
    right: gan("net G(z) {\n  dense 2\n}\nfake = G(z)"),
  },
  E0110: {
    title: "too many arguments",
    explanation: "A layer, data source, noise distribution or optimizer got more positional arguments than it has parameters.",
    wrong: gan("net G(z) {\n  dense 16, relu 1\n  dense 2\n}"),
    right: gan("net G(z) {\n  dense 16, relu\n  dense 2\n}"),
  },
  E0111: {
    title: "argument given twice",
    explanation: "An argument was given twice, by name or once by position and once by name.",
    wrong: gan("step d: adam(lr=1e-3, lr=2e-4) minimize d over D"),
    right: gan("step d: adam(lr=2e-4) minimize d over D"),
  },
  E0112: {
    title: "no such parameter",
    explanation: "A named argument that the layer, source, distribution, optimizer or function does not take. Functions and nets take positional arguments only.",
    wrong: gan("step d: adam(lr=1e-3, beta=0.5) minimize d over D"),
    right: gan("step d: adam(lr=1e-3, beta1=0.5) minimize d over D"),
  },
  E0113: {
    title: "argument must be a number",
    explanation: "This argument takes a number (a literal, or constant arithmetic like 7*7*128).",
    wrong: gan("data real: ring8(batch=ones)"),
    right: gan("data real: ring8(batch=64)"),
  },
  E0114: {
    title: "missing required argument",
    explanation: "The layer, source, distribution or optimizer needs this argument and has no default for it.",
    wrong: gan("net G(z) {\n  dense 16, relu\n  dense\n}"),
    right: gan("net G(z) {\n  dense 16, relu\n  dense 2\n}"),
  },
  E0115: {
    title: "argument must be true or false",
    explanation: "This argument is a switch: write `true` or `false`.",
    wrong: gan("net G(z) {\n  dense 16, relu\n  dense 2 bias=maybe\n}"),
    right: gan("net G(z) {\n  dense 16, relu\n  dense 2 bias=false\n}"),
  },
  E0116: {
    title: "argument must be one of a fixed set of words",
    explanation: "This argument takes one of a few words (like `padding=same` or `valid`); the message lists them.",
    wrong: gan("step d: adam(lr=1e-3, decay=cosine) minimize d over D"),
    right: gan("step d: adam(lr=1e-3, decay=linear) minimize d over D"),
  },
  E0117: {
    title: "argument must be a list of positive whole numbers",
    explanation: "Shapes are lists of positive whole numbers, like `[7, 7, 128]`.",
    wrong: gan("noise z: normal(0, 1, [4.5])"),
    right: gan("noise z: normal(0, 1, [4])"),
  },
  E0118: {
    title: "argument must be a string",
    explanation: "A data source's `path` is a folder name in double quotes.",
    wrong: gan(`data real: mnist(batch=64, path=3)\n${MNIST_NETS}`),
    right: gan(`data real: mnist(batch=64, path="data/mnist")\n${MNIST_NETS}`),
  },
  E0119: {
    title: "invalid initializer",
    explanation: "`init=` takes normal(mean, std) or truncated_normal(mean, std) with std > 0, uniform(low, high) with low < high, or one of glorot (also xavier_uniform), glorot_normal (xavier_normal), he_normal (kaiming_normal), he_uniform (kaiming_uniform), orthogonal, zeros and ones, which take no arguments (their scale comes from the weight's shape).",
    wrong: gan("net G(z) {\n  dense 16 init=normal(0, 0), relu\n  dense 2\n}"),
    right: gan("net G(z) {\n  dense 16 init=normal(0, 0.02), relu\n  dense 2\n}"),
  },
  E0120: {
    title: "declared twice",
    explanation: "A name (data, noise, net, value, loss, state or step) is declared twice, or `train` appears twice.",
    wrong: gan("loss g = bce_logits(D(fake).logit, ones)\nloss g2 = mean(fake)\ng2 = mean(fake)"),
    right: gan("loss g = bce_logits(D(fake).logit, ones)"),
  },
  E0121: {
    title: "built-in name declared",
    explanation: "Names like `ones`, `zeros` and `batch`, and the function names, are built in and cannot be declared.",
    wrong: gan("ones = mean(fake)"),
    right: gan("m = mean(fake)"),
  },
  E0122: {
    title: "definition in terms of itself",
    explanation: "Values and losses may not refer to themselves, directly or through others.",
    wrong: gan("a = b + 1\nb = a * 2"),
    right: gan("a = mean(fake)\nb = a * 2"),
  },
  E0123: {
    title: "unknown name",
    explanation: "An expression uses a name that nothing declares.",
    wrong: gan("loss g = bce_logits(D(fak).logit, ones)"),
    right: gan("loss g = bce_logits(D(fake).logit, ones)"),
  },
  E0124: {
    title: "data has no such field",
    explanation: "A data source has one field, `label` (one-hot labels): `real.label`.",
    wrong: gan(`data real: mnist(batch=64)\n${MNIST_NETS}\nm = mean(real.labl)`),
    right: gan(`data real: mnist(batch=64)\n${MNIST_NETS}\nm = mean(real.label)`),
  },
  E0125: {
    title: "net has no such tap",
    explanation: "`D(x).name` reads a tap that net D defines with `-> name`; every net also has `out`.",
    wrong: gan("loss g = bce_logits(D(fake).logits, ones)"),
    right: gan("loss g = bce_logits(D(fake).logit, ones)"),
  },
  E0126: {
    title: "unknown function",
    explanation: "A call names neither a net nor a built-in function (see the README's list of functions).",
    wrong: gan("loss g = bce_logit(D(fake).logit, ones)"),
    right: gan("loss g = bce_logits(D(fake).logit, ones)"),
  },
  E0127: {
    title: "wrong number of arguments",
    explanation: "A function or a net is applied to more or fewer arguments than it takes.",
    wrong: gan("loss g = bce_logits(D(fake).logit)"),
    right: gan("loss g = bce_logits(D(fake).logit, ones)"),
  },
  E0128: {
    title: "unknown step",
    explanation: "A schedule entry or an `after` action names a step that is not declared.",
    wrong: gan("state k = 0\nafter gg: k = 1"),
    right: gan("state k = 0\nafter g: k = 1"),
  },
  E0129: {
    title: "step minimizes something that is not a loss",
    explanation: "`minimize` names a loss declared with `loss`.",
    wrong: gan("step g: adam(lr=1e-3) minimize fake over G"),
    right: gan("step g: adam(lr=1e-3) minimize g over G"),
  },
  E0130: {
    title: "unknown net",
    explanation: "A step's `over` list or `ema_net` names a net that is not declared.",
    wrong: gan("step g: adam(lr=1e-3) minimize g over Gen"),
    right: gan("step g: adam(lr=1e-3) minimize g over G"),
  },
  E0132: {
    title: "unknown data source",
    explanation: `The data sources are ${Object.keys(DATA_SOURCES).join(", ")}.`,
    wrong: gan("data real: ring(batch=64)"),
    right: gan("data real: ring8(batch=64)"),
  },
  E0133: {
    title: "unknown noise distribution",
    explanation: "Noise is uniform, normal or categorical.",
    wrong: gan("noise z: gaussian(0, 1, [4])"),
    right: gan("noise z: normal(0, 1, [4])"),
  },
  E0134: {
    title: "assignment to something that is not a state variable",
    explanation: "An `after` action may set only variables declared with `state`.",
    wrong: gan("after g: k = 1"),
    right: gan("state k = 0\nafter g: k = 1"),
  },
  E0135: {
    title: "not an action",
    explanation: "An `after` action is either `k = expression` for a state variable or `clip_weights(net, c)`.",
    wrong: gan("after d: mean(fake)"),
    right: gan("after d: clip_weights(D, 0.01)"),
  },
  E0136: {
    title: "unknown optimizer",
    explanation: "The optimizers are adam, rmsprop, sgd and momentum.",
    wrong: gan("step d: adamw(lr=1e-3) minimize d over D"),
    right: gan("step d: adam(lr=1e-3) minimize d over D"),
  },
  E0137: {
    title: "invalid schedule entry",
    explanation: "A schedule lists step names, each optionally repeated: `schedule=[5*d, g]`.",
    wrong: gan("train { steps=100, schedule=[d, g, d + g] }"),
    right: gan("train { steps=100, schedule=[5*d, g] }"),
  },
  E0138: {
    title: "invalid log entry",
    explanation: "`log=[...]` lists names of values, losses or state variables.",
    wrong: gan("m = mean(fake)\ntrain { steps=100, schedule=[d, g], log=[mean(fake)] }"),
    right: gan("m = mean(fake)\ntrain { steps=100, schedule=[d, g], log=[m] }"),
  },
  E0139: {
    title: "generator output unknown",
    explanation: "ganc could not tell which value is the generator's output (for samples); name it with `train { samples = fake }`.",
    wrong: gan("net G(z) {\n  dense 16, relu\n  dense 3\n}\nloss d = bce_logits(D(fake).logit, zeros)"),
    right: gan("net G(z) {\n  dense 16, relu\n  dense 2\n}\nloss d = bce_logits(D(fake).logit, zeros)"),
  },
  E0140: {
    title: "no data source",
    explanation: "A spec trains on one data source: `data real: mnist(batch=64)`.",
    wrong: gan(BASE_GAN.replace("data real: ring8(batch=64)\n", "").replace(/D\(real\)/g, "D(fake)"), true),
    right: gan(BASE_GAN, true),
  },
  E0141: {
    title: "more than one data source",
    explanation: "A spec has exactly one data source.",
    wrong: gan("data other: grid25(batch=64)"),
    right: gan("data real: ring8(batch=64)"),
  },
  E0142: {
    title: "no optimizer step",
    explanation: "Without a `step`, nothing is trained.",
    wrong: gan("data real: ring8(batch=64)\nnoise z: normal(0, 1, [4])\nnet G(z) {\n  dense 2\n}\nfake = G(z)\n", true),
    right: gan(BASE_GAN, true),
  },
  E0143: {
    title: "join of something that is not a name",
    explanation: "`concat(...)`, `add(...)`, `multiply(...)` and `from(...)` take names of values of the net (its inputs, or outputs named with `-> name`), not expressions.",
    wrong: gan("net G(z, y) {\n  concat(2), dense 2\n}\nfake = G(z, z)"),
    right: gan("net G(z, y) {\n  concat(y), dense 2\n}\nfake = G(z, z)"),
  },
  E0144: {
    title: "state start value is not a constant",
    explanation: "A state variable starts at a constant number: `state k = 0`.",
    wrong: gan("state k = ones\nafter g: k = k + 1"),
    right: gan("state k = 0\nafter g: k = k + 1"),
  },
  E0145: {
    title: "concat without inputs",
    explanation: "`concat` names the inputs to concatenate in parentheses: `concat(y)`, not `concat y`.",
    wrong: gan("net G(z, y) {\n  concat y, dense 2\n}\nfake = G(z, z)"),
    right: gan("net G(z, y) {\n  concat(y), dense 2\n}\nfake = G(z, z)"),
  },
  E0146: {
    title: "net listed twice in a step",
    explanation: "A step's `over` list names each net once.",
    wrong: gan("step g: adam(lr=1e-3) minimize g over G, G"),
    right: gan("step g: adam(lr=1e-3) minimize g over G"),
  },
  E0147: {
    title: "member of something that is not a net application",
    explanation: "`.name` reads a tap of a net application (`D(x).logit`) or the label of the data (`real.label`).",
    wrong: gan("m = mean(z.logit)"),
    right: gan("m = mean(D(fake).logit)"),
  },
  E0148: {
    title: "invalid clip_weights arguments",
    explanation: "`clip_weights(net, c)` clips every weight of the net to [-c, c]; `clip_weights(net, low, high)` to [low, high]. The bounds are constant numbers.",
    wrong: gan("after d: clip_weights(D, fake)"),
    right: gan("after d: clip_weights(D, 0.01)"),
  },
  E0149: {
    title: "chain of values too long",
    explanation: "A value is defined through more than 300 other values; shorten the chain.",
    wrong: {
      ...gan(["v0 = mean(fake)", ...Array.from({ length: 301 }, (_, i) => `v${i + 1} = v${i} + 1`), "loss g = bce_logits(D(fake).logit, ones) + v301"].join("\n")),
      shown: "v0 = mean(fake)\nv1 = v0 + 1\n...\nv301 = v300 + 1\nloss g = bce_logits(D(fake).logit, ones) + v301",
    },
    right: gan("v0 = mean(fake)\nv1 = v0 + 1\nloss g = bce_logits(D(fake).logit, ones) + v1"),
  },
  E0150: {
    title: "class folders cannot be read",
    explanation: "An image folder with `labels=true` takes its classes from its first-level subfolders, and the compiler reads them to know the width of `real.label`: the folder must exist (relative to the spec) and have subfolders when the spec is checked. Without labels, the folder is read only when training starts.",
    wrong: gan(`data real: images(batch=64, path="no-such-folder", size=28, channels=1, labels=true)\n${MNIST_NETS}`),
    right: gan(`data real: images(batch=64, path="no-such-folder", size=28, channels=1)\n${MNIST_NETS}`),
  },
  E0151: {
    title: "array file cannot be read",
    explanation: "A NumPy data source is read when the spec is checked: the header of its array gives the sample shape, its labels array the number of classes. The file must exist (relative to the spec), be a .npy array or an .npz archive holding the named arrays, hold uint8 or float32 samples of 2 to 4 dimensions, and have one integer label per sample.",
    noExample: "an example needs an array file beside the spec; test/errors/npy-missing-file shows it",
  },
  E0152: {
    title: "diffaug on something that is not an image",
    explanation: "`diffaug(x, policy)` augments a batch of images: x must be [batch, height, width, channels] (the data, a generator's output, or a value of that shape). Its translation and cutout move and blank pixels, which a vector or a scalar does not have.",
    wrong: gan("loss g = bce_logits(D(diffaug(fake, \"color\")).logit, ones)"),
    right: gan(`data real: mnist(batch=64)\n${MNIST_NETS.replace("flatten", "conv 8 kernel=4 stride=2, flatten")}\nloss d = bce_logits(D(diffaug(real, "color,translation,cutout")).logit, ones) + bce_logits(D(diffaug(fake, "color,translation,cutout")).logit, zeros)\nloss g = bce_logits(D(diffaug(fake, "color,translation,cutout")).logit, ones)`),
  },
  E0153: {
    title: "bad diffaug policy",
    explanation: 'The second argument of `diffaug` is a string naming the augmentations, comma-separated: any of `color`, `translation` and `cutout` (DiffAugment\'s policy), like `diffaug(real, "color,translation,cutout")`.',
    wrong: gan(`data real: mnist(batch=64)\n${MNIST_NETS}\nloss g = bce_logits(D(diffaug(fake, "colour,cutout")).logit, ones)`),
    right: gan(`data real: mnist(batch=64)\n${MNIST_NETS}\nloss g = bce_logits(D(diffaug(fake, "color,cutout")).logit, ones)`),
  },

  E0160: {
    title: "unknown value in a net",
    explanation: "A join (`add`, `multiply`, `concat`) or `from` names a value the net does not have: values are the net's inputs and the outputs named with `-> name` by its layers.",
    wrong: gan("net D(x) {\n  dense 16 -> h1, lrelu 0.2\n  dense 16, add(h2)\n  dense 1 -> logit\n}"),
    right: gan("net D(x) {\n  dense 16 -> h1, lrelu 0.2\n  dense 16, add(h1)\n  dense 1 -> logit\n}"),
  },
  E0161: {
    title: "value used before it is defined in a net",
    explanation: "A net's layers run in order: a join or `from` can read an output named with `-> name` only after the layer that names it.",
    wrong: gan("net D(x) {\n  dense 16, add(h1)\n  dense 16 -> h1, lrelu 0.2\n  dense 1 -> logit\n}"),
    right: gan("net D(x) {\n  dense 16 -> h1, lrelu 0.2\n  dense 16, add(h1)\n  dense 1 -> logit\n}"),
  },
  E0162: {
    title: "unknown block",
    explanation: "A layer named with a capital letter is an instance of a block, which must be declared at the top level: `block Up(ch) { ... }`.",
    wrong: gan("block Mlp(n) {\n  dense(n), lrelu 0.2\n}\nnet D(x) {\n  Mpl(16)\n  dense 1 -> logit\n}"),
    right: gan("block Mlp(n) {\n  dense(n), lrelu 0.2\n}\nnet D(x) {\n  Mlp(16)\n  dense 1 -> logit\n}"),
  },
  E0163: {
    title: "wrong arguments of a block instance",
    explanation: "An instance gives each parameter of its block once, positionally or by name; parameters without a default (`block Up(ch, up=2)`: `ch`) must be given.",
    wrong: gan("block Mlp(n) {\n  dense(n), lrelu 0.2\n}\nnet D(x) {\n  Mlp(16, 8)\n  dense 1 -> logit\n}"),
    right: gan("block Mlp(n) {\n  dense(n), lrelu 0.2\n}\nnet D(x) {\n  Mlp(16)\n  dense 1 -> logit\n}"),
  },
  E0164: {
    title: "recursion between blocks",
    explanation: "A block may instantiate other blocks, but never itself, directly or through others: the expansion would not end.",
    wrong: gan("block A(n) {\n  dense(n), B(n)\n}\nblock B(n) {\n  relu, A(n)\n}\nnet D(x) {\n  A(16)\n  dense 1 -> logit\n}"),
    right: gan("block A(n) {\n  dense(n), B(n)\n}\nblock B(n) {\n  relu\n}\nnet D(x) {\n  A(16)\n  dense 1 -> logit\n}"),
  },
  E0165: {
    title: "when= outside a block, or not a flag",
    explanation: "`when=flag` keeps a layer of a block only in the instances whose flag is true (`upsample 2 when=up`); the flag is true, false or a parameter of the block given one of them.",
    wrong: gan("block Mlp(n, act=true) {\n  dense(n), lrelu 0.2 when=n\n}\nnet D(x) {\n  Mlp(16)\n  dense 1 -> logit\n}"),
    right: gan("block Mlp(n, act=true) {\n  dense(n), lrelu 0.2 when=act\n}\nnet D(x) {\n  Mlp(16)\n  dense 1 -> logit\n}"),
  },
  E0166: {
    title: "attention on an image it cannot split",
    explanation: "`attention` gives its queries and keys C/8 channels and max-pools its keys and values 2x2: its input needs a multiple of 8 channels and an even height and width. Change the conv before it, or move the attention to another resolution.",
    wrong: gan("net G(z) {\n  dense 16, relu\n  dense 2\n}\nnet D(x) {\n  dense 48, reshape [2, 2, 12], attention\n  flatten, dense 1 -> logit\n}"),
    right: gan("net G(z) {\n  dense 16, relu\n  dense 2\n}\nnet D(x) {\n  dense 64, reshape [2, 2, 16], attention\n  flatten, dense 1 -> logit\n}"),
  },

  E0170: {
    title: "conditional batch norm without a condition",
    explanation: "`cbn(c)` takes its gain and bias from a conditioning vector c, a named value of the net (an embedding of the label, or one joined with a chunk of z); without a condition, plain `batchnorm` is the layer.",
    wrong: gan("noise y: categorical(4)\nnet G(z, y) {\n  embed(y, 8) -> c\n  from(z), dense 16, cbn, relu\n  dense 2\n}\nnet D(x, y) {\n  dense 16, lrelu 0.2 -> h\n  dense 1 -> lin\n  embed(y, 16), dot(h), add(lin) -> logit\n}\nfake = G(z, y)\nloss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)\nloss g = bce_logits(D(fake, y).logit, ones)"),
    right: gan("noise y: categorical(4)\nnet G(z, y) {\n  embed(y, 8) -> c\n  from(z), dense 16, cbn(c), relu\n  dense 2\n}\nnet D(x, y) {\n  dense 16, lrelu 0.2 -> h\n  dense 1 -> lin\n  embed(y, 16), dot(h), add(lin) -> logit\n}\nfake = G(z, y)\nloss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)\nloss g = bce_logits(D(fake, y).logit, ones)"),
  },
  E0171: {
    title: "embedding of something that is not a class label",
    explanation: "`embed(y, n)` maps a one-hot class label to a learned vector; the input it names must be given the data's label (`real.label`) or a categorical noise wherever the net is applied.",
    wrong: gan("noise y: categorical(4)\nnet G(z, y) {\n  embed(z, 8) -> c\n  from(z), dense 16, cbn(c), relu\n  dense 2\n}\nnet D(x, y) {\n  dense 16, lrelu 0.2 -> h\n  dense 1 -> lin\n  embed(y, 16), dot(h), add(lin) -> logit\n}\nfake = G(z, y)\nloss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)\nloss g = bce_logits(D(fake, y).logit, ones)"),
    right: gan("noise y: categorical(4)\nnet G(z, y) {\n  embed(y, 8) -> c\n  from(z), dense 16, cbn(c), relu\n  dense 2\n}\nnet D(x, y) {\n  dense 16, lrelu 0.2 -> h\n  dense 1 -> lin\n  embed(y, 16), dot(h), add(lin) -> logit\n}\nfake = G(z, y)\nloss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)\nloss g = bce_logits(D(fake, y).logit, ones)"),
  },
  E0172: {
    title: "condition of a conditional batch norm is not a vector",
    explanation: "The gain and bias of `cbn(c)` are linear maps of c, which must be a vector per sample (an embedding, or an embedding concatenated with a chunk of z), not an image.",
    wrong: gan("net G(z) {\n  dense 16, reshape [2, 2, 4] -> m\n  cbn(m), flatten, dense 2\n}"),
    right: gan("net G(z) {\n  dense 16 -> m\n  cbn(m), dense 2\n}"),
  },
  E0173: {
    title: "chunk count does not divide the vector",
    explanation: "`chunk(z, i, n)` splits z into n equal chunks: n must divide z's length.",
    wrong: gan("net G(z) {\n  chunk(z, 0, 3), dense 2\n}"),
    right: gan("net G(z) {\n  chunk(z, 0, 2), dense 2\n}"),
  },
  E0174: {
    title: "chunk index out of range",
    explanation: "The chunks of `chunk(z, i, n)` are numbered 0 to n - 1.",
    wrong: gan("net G(z) {\n  chunk(z, 2, 2), dense 2\n}"),
    right: gan("net G(z) {\n  chunk(z, 1, 2), dense 2\n}"),
  },
  E0175: {
    title: "shared embedding not found",
    explanation: "`embed(y, n, share=G)` uses the class embedding of net G instead of a table of its own: G must be a net of the spec that is applied, with exactly one embed layer, or the one named (`share=G.embed1` by layer name, `share=G.emb` by its `-> emb`).",
    wrong: gan("noise y: categorical(4)\nnet G(z, y) {\n  embed(y, 8) -> c\n  from(z), dense 16, cbn(c), relu\n  dense 2\n}\nnet D(x, y) {\n  dense 8, lrelu 0.2 -> h\n  dense 1 -> lin\n  embed(y, 8, share=Gen), dot(h), add(lin) -> logit\n}\nfake = G(z, y)\nloss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)\nloss g = bce_logits(D(fake, y).logit, ones)"),
    right: gan("noise y: categorical(4)\nnet G(z, y) {\n  embed(y, 8) -> c\n  from(z), dense 16, cbn(c), relu\n  dense 2\n}\nnet D(x, y) {\n  dense 8, lrelu 0.2 -> h\n  dense 1 -> lin\n  embed(y, 8, share=G), dot(h), add(lin) -> logit\n}\nfake = G(z, y)\nloss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)\nloss g = bce_logits(D(fake, y).logit, ones)"),
  },
  E0176: {
    title: "shared embedding of another shape",
    explanation: "A layer with `share=` reads the owner's table as it is: its label must have the same number of classes and its `dim` must be the owner's.",
    wrong: gan("noise y: categorical(4)\nnet G(z, y) {\n  embed(y, 8) -> c\n  from(z), dense 16, cbn(c), relu\n  dense 2\n}\nnet D(x, y) {\n  dense 16, lrelu 0.2 -> h\n  dense 1 -> lin\n  embed(y, 16, share=G), dot(h), add(lin) -> logit\n}\nfake = G(z, y)\nloss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)\nloss g = bce_logits(D(fake, y).logit, ones)"),
    right: gan("noise y: categorical(4)\nnet G(z, y) {\n  embed(y, 16) -> c\n  from(z), dense 16, cbn(c), relu\n  dense 2\n}\nnet D(x, y) {\n  dense 16, lrelu 0.2 -> h\n  dense 1 -> lin\n  embed(y, 16, share=G), dot(h), add(lin) -> logit\n}\nfake = G(z, y)\nloss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)\nloss g = bce_logits(D(fake, y).logit, ones)"),
  },
  E0177: {
    title: "embedding that cannot be shared this way",
    explanation: "A shared table is its owner's: `init=` and `sn=` are written on the owner's embed, not on the layer that shares it; a table that is spectrally normalized or itself shared cannot be shared (name the owner instead); within one net, name the embedding (`-> emb`) and read it.",
    wrong: gan("noise y: categorical(4)\nnet G(z, y) {\n  embed(y, 8) -> c\n  from(z), dense 16, cbn(c), relu\n  dense 2\n}\nnet D(x, y) {\n  dense 8, lrelu 0.2 -> h\n  dense 1 -> lin\n  embed(y, 8, share=G, init=orthogonal), dot(h), add(lin) -> logit\n}\nfake = G(z, y)\nloss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)\nloss g = bce_logits(D(fake, y).logit, ones)"),
    right: gan("noise y: categorical(4)\nnet G(z, y) {\n  embed(y, 8) -> c\n  from(z), dense 16, cbn(c), relu\n  dense 2\n}\nnet D(x, y) {\n  dense 8, lrelu 0.2 -> h\n  dense 1 -> lin\n  embed(y, 8, share=G), dot(h), add(lin) -> logit\n}\nfake = G(z, y)\nloss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)\nloss g = bce_logits(D(fake, y).logit, ones)"),
  },
  E0180: {
    title: "lazy interval is not a whole number",
    explanation: "`every(k, step)` in a schedule runs the step on iterations k, 2k, ... with its gradients scaled by k; k is a whole number of iterations, at least 1.",
    wrong: gan("loss r1 = sum(square(grad(D(real).logit, real))) / batch\nstep d_reg: d minimize r1 over D\ntrain { steps=100, schedule=[d, g, every(0, d_reg)] }"),
    right: gan("loss r1 = sum(square(grad(D(real).logit, real))) / batch\nstep d_reg: d minimize r1 over D\ntrain { steps=100, schedule=[d, g, every(16, d_reg)] }"),
  },
  E0181: {
    title: "invalid use of another step's optimizer",
    explanation: "`step d_reg: d minimize r1 over D` updates with step d's optimizer (the same object and state, as StyleGAN2's regularization steps do): it trains exactly the nets step d trains, takes no optimizer settings of its own, and d must own its optimizer.",
    wrong: gan("loss r1 = sum(square(grad(D(real).logit, real))) / batch\nstep d_reg: d(lr=1e-3) minimize r1 over D\ntrain { steps=100, schedule=[d, g, every(16, d_reg)] }"),
    right: gan("loss r1 = sum(square(grad(D(real).logit, real))) / batch\nstep d_reg: d minimize r1 over D\ntrain { steps=100, schedule=[d, g, every(16, d_reg)] }"),
  },
  E0182: {
    title: "invalid optimizer adjustment",
    explanation: "`every(k, step, adjust=true)` sets Adam's rate and betas to lr*c, beta^c with c = k/(k+1); it needs Adam, and one optimizer is adjusted by one schedule entry.",
    wrong: gan("loss r1 = sum(square(grad(D(real).logit, real))) / batch\nstep d_reg: sgd(lr=1e-3) minimize r1 over D shared\ntrain { steps=100, schedule=[d, g, every(16, d_reg, adjust=true)] }"),
    right: gan("loss r1 = sum(square(grad(D(real).logit, real))) / batch\nstep d_reg: d minimize r1 over D\ntrain { steps=100, schedule=[d, g, every(16, d_reg, adjust=true)] }"),
  },
  E0183: {
    title: "batch not a multiple of minibatch_stddev's group",
    explanation: "minibatch_stddev splits each batch into groups of `group` samples (all of it when the batch is smaller), so the batch must be a multiple of the group.",
    wrong: gan("data real: mnist(batch=6)\n" + "net G(z) {\n  dense 784, reshape [28, 28, 1]\n}\nnet D(x) {\n  conv 4 kernel=4 stride=2, mbstd group=4\n  flatten, dense 1 -> logit\n}"),
    right: gan("data real: mnist(batch=8)\n" + "net G(z) {\n  dense 784, reshape [28, 28, 1]\n}\nnet D(x) {\n  conv 4 kernel=4 stride=2, mbstd group=4\n  flatten, dense 1 -> logit\n}"),
  },
  E0184: {
    title: "invalid weight modifier",
    explanation: "`lr_mul=` (a learning-rate multiplier) and `equalized=true` (StyleGAN's equalized learning rate) scale a dense or conv layer's kernel and bias at use time: lr_mul must be > 0, and neither goes with `sn=true` (spectral normalization undoes any constant scale of the kernel).",
    wrong: gan("net G(z) {\n  dense 16 lr_mul=0, relu\n  dense 2\n}"),
    right: gan("net G(z) {\n  dense 16 lr_mul=0.01 equalized=true, relu\n  dense 2\n}"),
  },
  E0185: {
    title: "learned constant that discards a value",
    explanation: "`const [4, 4, 256]` is a learned tensor repeated over the batch: it reads only the batch size of what comes before it, so it starts a path. It is a net's first layer, or comes after a layer whose output is named (`-> w`) and read by a later layer (`cbn(w)`, `concat(w)`); after an unnamed layer, that layer's output would be lost.",
    wrong: gan("net G(z) {\n  dense 16, relu\n  const [4]\n  dense 2\n}"),
    right: gan("net G(z) {\n  dense 16, relu -> w\n  const [4], concat(w)\n  dense 2\n}"),
  },
  E0186: {
    title: "noise input on a tensor that is not an image",
    explanation: "`noise` (StyleGAN2's noise input) adds one standard normal value per pixel, the same for every channel, times a learned strength per channel: its input is an image [height, width, channels] per sample.",
    wrong: gan("net G(z) {\n  dense 16, noise, relu\n  dense 2\n}"),
    right: gan("net G(z) {\n  dense 16, reshape [2, 2, 4], noise, relu\n  flatten, dense 2\n}"),
  },

  E0190: {
    title: "modulated convolution without a style",
    explanation: "`modconv(filters, k, w)` scales its input channels by a style computed from w, a named value of the net that is a vector per sample (the mapping network's output, `-> w`, or an input of the net); without one, plain `conv` is the layer.",
    wrong: gan("net G(z) {\n  dense 8, lrelu 0.2 -> w\n  from(w), dense 16, reshape [2, 2, 4]\n  modconv 4 kernel=3\n  flatten, dense 2\n}"),
    right: gan("net G(z) {\n  dense 8, lrelu 0.2 -> w\n  from(w), dense 16, reshape [2, 2, 4]\n  modconv(4, 3, w)\n  flatten, dense 2\n}"),
  },
  E0191: {
    title: "style of a modulated convolution is not a vector",
    explanation: "The style of `modconv(filters, k, w)` is an affine map of w, which must be a vector per sample ([wdim]), not an image.",
    wrong: gan("net G(z) {\n  dense 16, reshape [2, 2, 4] -> m\n  modconv(4, 3, m)\n  flatten, dense 2\n}"),
    right: gan("net G(z) {\n  dense 8, lrelu 0.2 -> w\n  from(w), dense 16, reshape [2, 2, 4]\n  modconv(4, 3, w)\n  flatten, dense 2\n}"),
  },
  E0192: {
    title: "modulated convolution with an even kernel",
    explanation: "`modconv` pads 'same' around each pixel, stride 1 (StyleGAN2's 3x3 and 1x1 convolutions); an even kernel would shift the image by half a pixel. Use an odd size, and upsample or avgpool to change the resolution.",
    wrong: gan("net G(z) {\n  dense 8, lrelu 0.2 -> w\n  from(w), dense 16, reshape [2, 2, 4]\n  modconv(4, 2, w)\n  flatten, dense 2\n}"),
    right: gan("net G(z) {\n  dense 8, lrelu 0.2 -> w\n  from(w), dense 16, reshape [2, 2, 4]\n  modconv(4, 3, w)\n  flatten, dense 2\n}"),
  },

  E0195: {
    title: "truncation without a tracked average",
    explanation: "`truncate(w)` (the truncation trick) pulls w toward the running average of the mapping network's output: w must be the output, or a tap, of a net whose layer there is `track_avg`, which keeps that average during training.",
    wrong: gan("net M(z) {\n  dense 8, lrelu 0.2\n  dense 8\n}\nnet G(ws) {\n  style(ws, 0) -> w0\n  style(ws, 1) -> w1\n  from(w0), dense 16, relu\n  concat(w1), dense 2\n}\nfake = G(styles(M(z), 2))\nstep g: adam(lr=1e-3) minimize g over G, M\ntrain { steps=100, schedule=[d, g], samples=G(styles(truncate(M(z)), 2)) }"),
    right: gan("net M(z) {\n  dense 8, lrelu 0.2\n  dense 8, track_avg\n}\nnet G(ws) {\n  style(ws, 0) -> w0\n  style(ws, 1) -> w1\n  from(w0), dense 16, relu\n  concat(w1), dense 2\n}\nfake = G(styles(M(z), 2))\nstep g: adam(lr=1e-3) minimize g over G, M\ntrain { steps=100, schedule=[d, g], samples=G(styles(truncate(M(z)), 2)) }"),
  },
  E0196: {
    title: "bad style stack size or mixing probability",
    explanation: "`styles(w, n)` and `mix(w1, w2, n, p)` make a stack of n per-layer styles: n is a constant whole number (at least 2 for mix, whose crossover lies in [1, n)), and p, the probability that a batch is mixed, is a constant in [0, 1].",
    wrong: gan("net M(z) {\n  dense 8, lrelu 0.2\n  dense 8, track_avg\n}\nnet G(ws) {\n  style(ws, 0) -> w0\n  style(ws, 1) -> w1\n  from(w0), dense 16, relu\n  concat(w1), dense 2\n}\nfake = G(styles(M(z), 2))\nloss g = bce_logits(D(G(mix(M(z), M(z), 2, 1.5))).logit, ones)\nstep g: adam(lr=1e-3) minimize g over G, M\n"),
    right: gan("net M(z) {\n  dense 8, lrelu 0.2\n  dense 8, track_avg\n}\nnet G(ws) {\n  style(ws, 0) -> w0\n  style(ws, 1) -> w1\n  from(w0), dense 16, relu\n  concat(w1), dense 2\n}\nfake = G(styles(M(z), 2))\nloss g = bce_logits(D(G(mix(M(z), M(z), 2, 0.9))).logit, ones)\nstep g: adam(lr=1e-3) minimize g over G, M\n"),
  },
  E0197: {
    title: "style index outside the stack",
    explanation: "`style(ws, i)` reads layer i's style of a stack of n styles: i is a whole number from 0 to n - 1. The stack's size comes from where the net is applied (`styles(w, n)`, `mix(w1, w2, n, p)`).",
    wrong: gan("net M(z) {\n  dense 8, lrelu 0.2\n  dense 8, track_avg\n}\nnet G(ws) {\n  style(ws, 2) -> w0\n  style(ws, 1) -> w1\n  from(w0), dense 16, relu\n  concat(w1), dense 2\n}\nfake = G(styles(M(z), 2))\nstep g: adam(lr=1e-3) minimize g over G, M\n"),
    right: gan("net M(z) {\n  dense 8, lrelu 0.2\n  dense 8, track_avg\n}\nnet G(ws) {\n  style(ws, 0) -> w0\n  style(ws, 1) -> w1\n  from(w0), dense 16, relu\n  concat(w1), dense 2\n}\nfake = G(styles(M(z), 2))\nstep g: adam(lr=1e-3) minimize g over G, M\n"),
  },
  E0198: {
    title: "not a style stack",
    explanation: "`style(ws, i)` reads an input of the net that is a per-layer style stack [layers, wdim], made by `styles(w, n)` or `mix(w1, w2, n, p)` from batches of style vectors [wdim] (mix's two of the same width).",
    wrong: gan("net M(z) {\n  dense 8, lrelu 0.2\n  dense 8, track_avg\n}\nnet G(ws) {\n  style(ws, 0) -> w0\n  style(ws, 1) -> w1\n  from(w0), dense 16, relu\n  concat(w1), dense 2\n}\nfake = G(M(z))\nstep g: adam(lr=1e-3) minimize g over G, M\n"),
    right: gan("net M(z) {\n  dense 8, lrelu 0.2\n  dense 8, track_avg\n}\nnet G(ws) {\n  style(ws, 0) -> w0\n  style(ws, 1) -> w1\n  from(w0), dense 16, relu\n  concat(w1), dense 2\n}\nfake = G(styles(M(z), 2))\nstep g: adam(lr=1e-3) minimize g over G, M\n"),
  },
  E0199: {
    title: "truncation outside the samples",
    explanation: "`truncate(w)` uses the psi chosen when sampling (`ganc sample --truncation 0.7`, 1 otherwise), so it belongs in the samples expression (`train { samples = ... }`), not in a loss, a state update or a logged value.",
    wrong: gan("net M(z) {\n  dense 8, lrelu 0.2\n  dense 8, track_avg\n}\nnet G(ws) {\n  style(ws, 0) -> w0\n  style(ws, 1) -> w1\n  from(w0), dense 16, relu\n  concat(w1), dense 2\n}\nfake = G(styles(truncate(M(z)), 2))\nstep g: adam(lr=1e-3) minimize g over G, M\n"),
    right: gan("net M(z) {\n  dense 8, lrelu 0.2\n  dense 8, track_avg\n}\nnet G(ws) {\n  style(ws, 0) -> w0\n  style(ws, 1) -> w1\n  from(w0), dense 16, relu\n  concat(w1), dense 2\n}\nfake = G(styles(M(z), 2))\nstep g: adam(lr=1e-3) minimize g over G, M\ntrain { steps=100, schedule=[d, g], samples=G(styles(truncate(M(z)), 2)) }"),
  },

  // ---- E02xx: shapes and types ----
  E0201: {
    title: "layer input of the wrong shape",
    explanation: "A layer cannot take the shape it gets: dense needs a flat vector per sample; conv, deconv, upsample, avgpool, global_sum, global_avg and attention an image [height, width, channels].",
    wrong: gan("net G(z) {\n  dense 16, relu\n  conv 2 kernel=3\n}"),
    right: gan("net G(z) {\n  dense 16, relu\n  dense 2\n}"),
  },
  E0202: {
    title: "reshape to a different size",
    explanation: "`reshape` keeps the number of values per sample; the target shape's product must equal the input's.",
    wrong: gan("net G(z) {\n  dense 16, relu, reshape [4, 5]\n  flatten, dense 2\n}"),
    right: gan("net G(z) {\n  dense 16, relu, reshape [4, 4]\n  flatten, dense 2\n}"),
  },
  E0203: {
    title: "concat of incompatible shapes",
    explanation: "concat joins two vectors, an image and a vector (the vector is broadcast over the image's positions), or two images of the same height and width.",
    wrong: gan("noise y: normal(0, 1, [2, 2, 1])\nnet G(z, y) {\n  dense 16, reshape [4, 4, 1], concat(y), flatten, dense 2\n}\nfake = G(z, y)"),
    right: gan("noise y: normal(0, 1, [4, 4, 1])\nnet G(z, y) {\n  dense 16, reshape [4, 4, 1], concat(y), flatten, dense 2\n}\nfake = G(z, y)"),
  },
  E0204: {
    title: "not a scalar",
    explanation: "Losses, logged values and new values of state variables are scalars; reduce a batch with mean(...) or sum(...).",
    wrong: gan("loss g = D(fake).logit"),
    right: gan("loss g = mean(D(fake).logit)"),
  },
  E0205: {
    title: "string or list in an expression",
    explanation: "Strings and lists are arguments of layers, sources and settings; they have no value in an expression.",
    wrong: gan('m = mean(fake) + "one"'),
    right: gan("m = mean(fake) + 1"),
  },
  E0206: {
    title: "operation does not apply to these operands",
    explanation: "The kinds of the arguments do not fit the function: clip's bounds must be scalars, sample_mean and pullaway need a batched tensor, softmax_ce needs logits and labels of one [batch, k] shape. (Shapes that do not broadcast are E0510.)",
    wrong: gan("m = mean(clip(fake, fake, 1))"),
    right: gan("m = mean(clip(fake, -1, 1))"),
  },
  E0207: {
    title: "net used without inputs",
    explanation: "A net is a function: apply it, like `G(z)`.",
    wrong: gan("m = mean(G)"),
    right: gan("m = mean(G(z))"),
  },
  E0208: {
    title: "grad with respect to an expression",
    explanation: "`grad(y, x)` needs x to be a named value or an input, so that y can be differentiated with respect to it: `xhat = real + a * (fake - real)` then `grad(D(xhat).logit, xhat)`.",
    wrong: gan("gp = mean(square(norm(grad(D(fake).logit, fake * 2)) - 1))"),
    right: gan("gp = mean(square(norm(grad(D(fake).logit, fake)) - 1))"),
  },
  E0209: {
    title: "gradient that is always zero",
    explanation: "In `grad(y, x)`, y does not depend on x.",
    wrong: gan("gp = mean(square(norm(grad(D(real).logit, fake)) - 1))"),
    right: gan("gp = mean(square(norm(grad(D(fake).logit, fake)) - 1))"),
  },
  E0210: {
    title: "slice outside the axis",
    explanation: "`slice(x, begin, size)` takes positions [begin, begin + size) of x's last axis, which must lie inside it.",
    wrong: gan("m = mean(slice(fake, 1, 2))"),
    right: gan("m = mean(slice(fake, 0, 2))"),
  },
  E0211: {
    title: "net input is not a batch",
    explanation: "A net takes a batch of samples (data, noise or values computed from them), not a scalar.",
    wrong: gan("m = mean(D(mean(fake)).logit)"),
    right: gan("m = mean(D(fake).logit)"),
  },
  E0212: {
    title: "net input of the wrong shape",
    explanation: "The first layer of a net fixes the shape of its inputs from the first application; another application gives a different shape.",
    wrong: gan("noise w: normal(0, 1, [3])\nm = mean(G(w))"),
    right: gan("noise w: normal(0, 1, [4])\nm = mean(G(w))"),
  },
  E0220: {
    title: "concat of the net's first input with itself",
    explanation: "The layers already carry the net's first input; concat adds other inputs.",
    wrong: gan("net G(z, y) {\n  concat(z), dense 2\n}\nfake = G(z, z)"),
    right: gan("net G(z, y) {\n  concat(y), dense 2\n}\nfake = G(z, z)"),
  },
  E0221: {
    title: "samples not shaped like the data",
    explanation: "`train { samples = ... }` names the generator's output, which must have the data's shape.",
    wrong: gan("m2 = D(fake).logit\ntrain { steps=100, schedule=[d, g], samples=m2 }"),
    right: gan("train { steps=100, schedule=[d, g], samples=fake }"),
  },

  E0230: {
    title: "join of mismatched shapes",
    explanation: "`add` and `multiply` join values of the same shape; `concat` joins two vectors, an image and a vector, or two images of the same size. The message names both shapes; a 1x1 conv on the shortcut (`from(x), conv 128 kernel=1`) changes its channels.",
    wrong: gan("net D(x) {\n  dense 16 -> h1, lrelu 0.2\n  dense 8, add(h1)\n  dense 1 -> logit\n}"),
    right: gan("net D(x) {\n  dense 16 -> h1, lrelu 0.2\n  dense 16, add(h1)\n  dense 1 -> logit\n}"),
  },
  E0222: {
    title: "kernel larger than the input",
    explanation: "With padding 'valid' a convolution's kernel, or an average pooling's window, must fit inside the image it slides over; use a smaller kernel or window, or padding 'same'.",
    wrong: gan(`data real: mnist(batch=64)\nnet G(z) {\n  dense 16, relu\n  dense 784, reshape [28, 28, 1]\n}\nnet D(x) {\n  conv 8 kernel=29 padding=valid, lrelu 0.2\n  flatten, dense 1 -> logit\n}`),
    right: gan(`data real: mnist(batch=64)\nnet G(z) {\n  dense 16, relu\n  dense 784, reshape [28, 28, 1]\n}\nnet D(x) {\n  conv 8 kernel=4 padding=valid, lrelu 0.2\n  flatten, dense 1 -> logit\n}`),
  },
  E0223: {
    title: "slice of a scalar or with computed bounds",
    explanation: "`slice(x, begin, size)` takes a batched x (not a scalar) and constant numbers for begin and size.",
    wrong: gan("state k = 0\nafter g: k = k + 1\nm = mean(slice(fake, k, 1))"),
    right: gan("state k = 0\nafter g: k = k + 1\nm = mean(slice(fake, 0, 1))"),
  },

  E0240: {
    title: "not supported by the pytorch target yet",
    explanation:
      "`ganc compile --target pytorch` writes a Python trainer with the same meaning as the TypeScript one; a layer kind or function it cannot reproduce yet is refused where it is written (a layer of a block: at the block's instance in the net, with a note at the layer inside the block) rather than compiled into different code. The TypeScript target (the default) runs it.",
    noExample: "the spec is fine for the default target, so `ganc check` reports nothing; test/errors/pytorch/ shows the diagnostic with a layer kind marked unsupported",
  },

  // ---- E03xx: optimizer groups ----
  E0301: {
    title: "step trains a net its loss does not depend on",
    explanation: "The loss of a step does not depend on a net in its `over` list, so the step could not train it.",
    wrong: gan("net Q(x) {\n  dense 1\n}\nm = mean(Q(fake))\nstep d: adam(lr=1e-3) minimize d over D, Q"),
    right: gan("net Q(x) {\n  dense 1\n}\nloss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros) + mean(Q(fake))\nstep d: adam(lr=1e-3) minimize d over D, Q"),
  },
  E0302: {
    title: "net trained by two steps",
    explanation: "Two steps train the same net; if that is meant (like a classifier head trained with both), add `shared` to one of them.",
    wrong: gan("loss q = mean(square(D(real).logit))\nstep q: adam(lr=1e-3) minimize q over D\ntrain { steps=100, schedule=[d, g, q] }"),
    right: gan("loss q = mean(square(D(real).logit))\nstep q: adam(lr=1e-3) minimize q over D shared\ntrain { steps=100, schedule=[d, g, q] }"),
  },

  // ---- W04xx: GAN lint ----
  W0401: {
    title: "activation applied twice",
    explanation: "bce_logits and softmax_ce apply their own sigmoid or softmax; give them the logits (a tap before the activation), or use bce on probabilities.",
    wrong: gan("net D(x) {\n  dense 16, lrelu 0.2\n  dense 1, sigmoid -> prob\n}\nloss d = bce_logits(D(real).prob, ones) + bce_logits(D(fake).prob, zeros)\nloss g = bce_logits(D(fake).prob, ones)"),
    right: gan("net D(x) {\n  dense 16, lrelu 0.2\n  dense 1, sigmoid -> prob\n}\nloss d = bce(D(real).prob, ones) + bce(D(fake).prob, zeros)\nloss g = bce(D(fake).prob, ones)"),
  },
  W0402: {
    title: "gradient penalty on probabilities",
    explanation: "A gradient penalty belongs on the critic's logits, not on its output after a sigmoid.",
    wrong: gan("net D(x) {\n  dense 16, lrelu 0.2\n  dense 1 -> logit, sigmoid -> prob\n}\ngp = mean(square(norm(grad(D(fake).prob, fake)) - 1))\nloss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros) + gp"),
    right: gan("net D(x) {\n  dense 16, lrelu 0.2\n  dense 1 -> logit, sigmoid -> prob\n}\ngp = mean(square(norm(grad(D(fake).logit, fake)) - 1))\nloss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros) + gp"),
  },
  W0403: {
    title: "batch norm under a gradient penalty",
    explanation: "Batch norm couples the samples of a batch, which breaks a per-sample gradient penalty; use layernorm or no normalization in the critic.",
    wrong: gan("net D(x) {\n  dense 16, batchnorm, lrelu 0.2\n  dense 1 -> logit\n}\ngp = mean(square(norm(grad(D(fake).logit, fake)) - 1))\nloss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros) + gp"),
    right: gan("net D(x) {\n  dense 16, layernorm, lrelu 0.2\n  dense 1 -> logit\n}\ngp = mean(square(norm(grad(D(fake).logit, fake)) - 1))\nloss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros) + gp"),
  },
  W0405: {
    title: "net never applied",
    explanation: "A declared net is not used in any expression, so it is not trained and its shapes are unknown.",
    wrong: gan("net Q(x) {\n  dense 2\n}"),
    right: gan("# no net Q: delete a net that nothing applies"),
  },
  W0406: {
    title: "step not in the schedule",
    explanation: "A step that the schedule does not list never runs.",
    wrong: gan("train { steps=100, schedule=[d] }"),
    right: gan("train { steps=100, schedule=[d, g] }"),
  },
  W0407: {
    title: "net not trained",
    explanation: "A net with trainable variables is in no step's `over` list.",
    wrong: gan("step g: adam(lr=1e-3) minimize g over G\nnet Q(x) {\n  dense 1\n}\nloss g = bce_logits(D(fake).logit, ones) + mean(Q(fake))"),
    right: gan("step g: adam(lr=1e-3) minimize g over G, Q\nnet Q(x) {\n  dense 1\n}\nloss g = bce_logits(D(fake).logit, ones) + mean(Q(fake))"),
  },

  W0510: {
    title: "generator range unlike the data's",
    explanation: "The generator ends in tanh (values in [-1, 1]) or sigmoid ([0, 1]) while the data lies in another range, so the discriminator can tell real from fake by range alone. End the generator in the activation whose range is the data's.",
    wrong: gan("data real: mnist(batch=64)\nnoise z: uniform(-1, 1, [16])\nnet G(z) {\n  dense 7*7*4, relu\n  reshape [7, 7, 4]\n  deconv 1 kernel=4 stride=4, tanh\n}\nnet D(x) {\n  conv 4 kernel=4 stride=2, lrelu 0.2\n  flatten, dense 1 -> logit\n}"),
    right: gan("data real: mnist(batch=64)\nnoise z: uniform(-1, 1, [16])\nnet G(z) {\n  dense 7*7*4, relu\n  reshape [7, 7, 4]\n  deconv 1 kernel=4 stride=4, sigmoid\n}\nnet D(x) {\n  conv 4 kernel=4 stride=2, lrelu 0.2\n  flatten, dense 1 -> logit\n}"),
  },
  // ---- E05xx: values ----
  E0501: {
    title: "argument out of range",
    explanation: "A number outside the values an argument allows: a learning rate > 0, beta1 in [0, 1), a positive whole number of units, a finite number.",
    wrong: gan("step d: adam(lr=0) minimize d over D"),
    right: gan("step d: adam(lr=1e-3) minimize d over D"),
  },
  E0502: {
    title: "number out of range",
    explanation: "A number literal is too large to represent (it would be Infinity).",
    wrong: gan("loss g = bce_logits(D(fake).logit, ones) * 1e999"),
    right: gan("loss g = bce_logits(D(fake).logit, ones) * 1e3"),
  },
  E0503: {
    title: "low bound not below high bound",
    explanation: "`uniform(low, high, shape)` noise and `clip_weights(net, low, high)` need low < high.",
    wrong: gan("noise z: uniform(1, -1, [4])"),
    right: gan("noise z: uniform(-1, 1, [4])"),
  },

  E0510: {
    title: "shapes do not broadcast",
    explanation: "Two operands of an operator or pairwise function must have equal shapes, or one of them is a scalar or a per-sample value of ones ([1], [1, 1, 1]) that stretches over the other. Anything else (an image against a vector, [batch, 1] against [batch]) would silently make a batch-by-batch matrix or fail in training; the message names both shapes and what to write instead.",
    wrong: gan("noise w: normal(0, 1, [3])\nm = mean(fake + w)"),
    right: gan("noise w: normal(0, 1, [1])\nm = mean(fake * w)"),
  },
  E0511: {
    title: "step trains nothing",
    explanation: "Every net a step trains must have trainable variables (a layer with weights); a step over nets made only of activations, reshapes or resampling has nothing to update.",
    wrong: gan("net B(x) {\n  relu\n}\nloss b = mean(B(fake))\nstep b: adam(lr=1e-3) minimize b over B\ntrain { steps=100, schedule=[d, g, b] }"),
    right: gan("net B(x) {\n  dense 2\n}\nloss b = mean(B(fake))\nstep b: adam(lr=1e-3) minimize b over B\ntrain { steps=100, schedule=[d, g, b] }"),
  },
  E0512: {
    title: "net output unlike the data",
    explanation: "A generator's output is given to a net whose input has the data's shape. The error is reported once, at the generator's last layer, with the use as a note and the change that fixes it (an upsampling layer more or less, other filters in the last layer).",
    wrong: gan("data real: mnist(batch=64)\nnoise z: uniform(-1, 1, [16])\nnet G(z) {\n  dense 7*7*4, relu\n  reshape [7, 7, 4]\n  deconv 1 kernel=4 stride=2, sigmoid\n}\nnet D(x) {\n  conv 4 kernel=4 stride=2, lrelu 0.2\n  flatten, dense 1 -> logit\n}"),
    right: gan("data real: mnist(batch=64)\nnoise z: uniform(-1, 1, [16])\nnet G(z) {\n  dense 7*7*4, relu\n  reshape [7, 7, 4]\n  deconv 1 kernel=4 stride=4, sigmoid\n}\nnet D(x) {\n  conv 4 kernel=4 stride=2, lrelu 0.2\n  flatten, dense 1 -> logit\n}"),
  },
  // ---- E06xx / W06xx: YAML ----
  E0601: {
    title: "YAML syntax error",
    explanation: "The file is not valid YAML; the message is the YAML parser's.",
    wrong: yaml("train:\n  steps: [100\n  schedule: [d, g]"),
    right: yaml("train:\n  steps: 100\n  schedule: [d, g]"),
  },
  E0602: {
    title: "duplicate YAML key",
    explanation: "A mapping has the same key twice; YAML would silently keep only one.",
    wrong: yaml("train:\n  steps: 100\n  steps: 200\n  schedule: [d, g]"),
    right: yaml("train:\n  steps: 200\n  schedule: [d, g]"),
  },
  E0603: {
    title: "YAML alias inside the node it names",
    explanation: "An alias refers to a node that contains it, so the document would be infinite.",
    wrong: yaml("train: &t\n  steps: 100\n  schedule: [d, g]\n  again: *t"),
    right: yaml("train: &t\n  steps: 100\n  schedule: [d, g]"),
  },
  E0604: {
    title: "empty YAML document",
    explanation: "The YAML file holds no document; a spec is a mapping with data, nets, losses and steps.",
    wrong: yaml("# nothing here\n", true),
    right: yaml(BASE_YAML, true),
  },
  E0605: {
    title: "YAML document is not a mapping",
    explanation: "A spec in YAML is a mapping of keys (data, nets, losses, steps, ...), not a list or a scalar.",
    wrong: yaml("- data\n- nets\n", true),
    right: yaml(BASE_YAML, true),
  },
  E0606: {
    title: "YAML key that is a list or mapping",
    explanation: "Every key in a spec is a plain name.",
    wrong: yaml("values:\n  fake: G(z)\n  ? [a, b]\n  : 1"),
    right: yaml("values:\n  fake: G(z)"),
  },
  E0607: {
    title: "YAML aliases expand to too many nodes",
    explanation: "The aliases of the document expand to more than 100 nodes (an alias bomb: each level multiplies the last); write the values out or use fewer aliases.",
    wrong: yaml("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n", true),
    right: yaml(BASE_YAML, true),
  },
  E0610: {
    title: "unknown YAML key",
    explanation: "A key the schema (`grammar/gan.schema.json`) does not allow at that place.",
    wrong: yaml("train:\n  steps: 100\n  schedul: [d, g]"),
    right: yaml("train:\n  steps: 100\n  schedule: [d, g]"),
  },
  E0611: {
    title: "YAML value of the wrong type",
    explanation: "A value of another type than the schema expects there (a number, a string, a list, a mapping, true/false); numbers must be finite.",
    wrong: yaml("gan: [ring8]"),
    right: yaml("gan: ring8"),
  },
  E0612: {
    title: "missing YAML key",
    explanation: "A mapping lacks a key the schema requires.",
    wrong: yaml("steps:\n  d: { optimizer: { adam: { lr: 1.0e-3 } }, over: [D] }\n  g: { optimizer: { adam: { lr: 1.0e-3 } }, minimize: g, over: [G] }"),
    right: yaml("steps:\n  d: { optimizer: { adam: { lr: 1.0e-3 } }, minimize: d, over: [D] }\n  g: { optimizer: { adam: { lr: 1.0e-3 } }, minimize: g, over: [G] }"),
  },
  E0613: {
    title: "unknown word in YAML",
    explanation: "A value that must be one of a fixed set of words (a data source, a distribution, ...) is not one of them.",
    wrong: yaml("noise:\n  z: { dist: gaussian, mean: 0, std: 1, shape: [4] }"),
    right: yaml("noise:\n  z: { dist: normal, mean: 0, std: 1, shape: [4] }"),
  },
  E0614: {
    title: "invalid name in YAML",
    explanation: "Names are letters, digits and _, not starting with a digit.",
    wrong: yaml("values:\n  fake: G(z)\n  2fake: G(z)"),
    right: yaml("values:\n  fake: G(z)\n  fake2: G(z)"),
  },
  E0615: {
    title: "YAML layer or optimizer with more than one key",
    explanation: "A layer written as a mapping, and an optimizer, have exactly one key: its name, like `{conv2d: {filters: 64, kernel: 4}}` or `{adam: {lr: 2.0e-4}}`.",
    wrong: yaml("steps:\n  d: { optimizer: { adam: { lr: 1.0e-3 }, sgd: { lr: 1.0e-3 } }, minimize: d, over: [D] }\n  g: { optimizer: { adam: { lr: 1.0e-3 } }, minimize: g, over: [G] }"),
    right: yaml("steps:\n  d: { optimizer: { adam: { lr: 1.0e-3 } }, minimize: d, over: [D] }\n  g: { optimizer: { adam: { lr: 1.0e-3 } }, minimize: g, over: [G] }"),
  },
  E0617: {
    title: "YAML value the schema does not allow",
    explanation: "A value breaks a rule of the schema (`grammar/gan.schema.json`) that has no message of its own; the message gives the rule.",
    noExample: "unreachable with today's schema: the fallback for rules added to grammar/gan.schema.json later",
  },
  W0601: {
    title: "YAML warning",
    explanation: "The YAML parser warns about something it reads in a non-standard way (like an unknown tag); the message is the parser's.",
    wrong: yaml("train:\n  steps: !big 100\n  schedule: [d, g]"),
    right: yaml("train:\n  steps: 100\n  schedule: [d, g]"),
  },
  E0630: {
    title: "unknown code in an allow",
    explanation: "An allow directive (`#[allow(W0403)]`) names a code that does not exist; the message suggests the nearest warning code.",
    wrong: gan(BASE_GAN.replace("loss g =", "#[allow(W403)]\nloss g ="), true),
    right: gan(BASE_GAN, true),
  },
  E0631: {
    title: "code that cannot be allowed",
    explanation: "Only warnings can be allowed: a spec with an error is not compiled, so an allow directive naming an error code (E...) has no meaning; fix the error instead. W0601, the YAML reader's warning, is reported before the directives are read, so it cannot be allowed either.",
    wrong: gan(BASE_GAN.replace("loss g =", "#[allow(E0120)]\nloss g ="), true),
    right: gan(BASE_GAN, true),
  },
  E0632: {
    title: "malformed allow directive",
    explanation: "A comment that starts with `#[allow` or `#![allow` is an allow directive and must read `#[allow(W0403)]` (several codes separated by commas; `#!` for the whole spec), followed by free text if wanted.",
    wrong: gan(BASE_GAN.replace("loss g =", "#[allow W0405]\nloss g ="), true),
    right: gan(BASE_GAN.replace("loss g =", "#[allow(W0405)] Q is kept for a later experiment\nnet Q(x) {\n  dense 2\n}\nloss g ="), true),
  },
  W0408: {
    title: "allow that allows nothing",
    explanation: "An allow directive whose declaration (or line, or spec) has none of the warnings it names: the reason for it has gone. Remove it. (Reported only in a spec without errors, where every warning has been looked for.)",
    wrong: gan(BASE_GAN.replace("loss g =", "#[allow(W0405)]\nloss g ="), true),
    right: gan(BASE_GAN.replace("loss g =", "#[allow(W0405)] Q is kept for a later experiment\nnet Q(x) {\n  dense 2\n}\nloss g ="), true),
  },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CATALOG;
export type ErrorCode = Extract<Code, `E${string}`>;
export type WarningCode = Extract<Code, `W${string}`>;

/** `C.E0113` is the code "E0113"; a code that is not in the catalog does not compile. */
export const C = Object.fromEntries(Object.keys(CATALOG).map((k) => [k, k])) as { readonly [K in Code]: K };

export function isCode(s: string): s is Code {
  return Object.prototype.hasOwnProperty.call(CATALOG, s);
}

export function codeInfo(code: Code): CodeInfo {
  return CATALOG[code];
}
