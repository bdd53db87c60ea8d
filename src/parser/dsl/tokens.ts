import { createToken, Lexer, type TokenType } from "chevrotain";

// Order matters: longer and more specific patterns first; keywords before Identifier (longer_alt).
export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n\uFEFF]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: "Comment", pattern: /(#|\/\/)[^\r\n]*/, group: Lexer.SKIPPED });
export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

const kw = (word: string) => createToken({ name: word[0]!.toUpperCase() + word.slice(1), pattern: new RegExp(`${word}\\b`), longer_alt: Identifier });
export const Gan = kw("gan");
export const Data = kw("data");
export const Noise = kw("noise");
export const Net = kw("net");
export const Block = kw("block");
export const Loss = kw("loss");
export const State = kw("state");
export const Step = kw("step");
export const After = kw("after");
export const Train = kw("train");
export const Minimize = kw("minimize");
export const Over = kw("over");
export const Shared = kw("shared");
export const keywords = [Gan, Data, Noise, Net, Block, Loss, State, Step, After, Train, Minimize, Over, Shared];

export const NumberLiteral = createToken({ name: "NumberLiteral", pattern: /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/ });
export const StringLiteral = createToken({ name: "StringLiteral", pattern: /"(?:[^"\\\r\n]|\\.)*"/ });
// Common mistakes get tokens of their own so that they are reported once, with a hint, instead of
// as a cascade of syntax errors: a string without its closing quote, single quotes, and `=>`.
export const UnterminatedString = createToken({ name: "UnterminatedString", pattern: /"(?:[^"\\\r\n]|\\.)*/ });
export const SingleQuoted = createToken({ name: "SingleQuoted", pattern: /'[^'\r\n]*'?/ });
export const FatArrow = createToken({ name: "FatArrow", pattern: /=>/ });
export const Arrow = createToken({ name: "Arrow", pattern: /->/ });
export const Plus = createToken({ name: "Plus", pattern: /\+/ });
export const Minus = createToken({ name: "Minus", pattern: /-/ });
export const Star = createToken({ name: "Star", pattern: /\*/ });
export const Slash = createToken({ name: "Slash", pattern: /\// });
export const Equals = createToken({ name: "Equals", pattern: /=/ });
export const Colon = createToken({ name: "Colon", pattern: /:/ });
export const Comma = createToken({ name: "Comma", pattern: /,/ });
export const Dot = createToken({ name: "Dot", pattern: /\./ });
export const LParen = createToken({ name: "LParen", pattern: /\(/ });
export const RParen = createToken({ name: "RParen", pattern: /\)/ });
export const LBracket = createToken({ name: "LBracket", pattern: /\[/ });
export const RBracket = createToken({ name: "RBracket", pattern: /]/ });
export const LBrace = createToken({ name: "LBrace", pattern: /{/ });
export const RBrace = createToken({ name: "RBrace", pattern: /}/ });

export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  ...keywords,
  Identifier,
  NumberLiteral,
  StringLiteral,
  UnterminatedString,
  SingleQuoted,
  FatArrow,
  Arrow,
  Plus,
  Minus,
  Star,
  Slash,
  Equals,
  Colon,
  Comma,
  Dot,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
];

/**
 * chevrotain's checks of the token and grammar definitions (about 50 ms of every start) run from the
 * TypeScript sources, where the tests run them; the compiled command (dist/, built from these same
 * definitions) skips them.
 */
export const VALIDATE_GRAMMAR = import.meta.url.endsWith(".ts");

export const ganLexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: false, skipValidations: !VALIDATE_GRAMMAR });
