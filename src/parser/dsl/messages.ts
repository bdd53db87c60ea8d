/**
 * Syntax error messages in the spec's words, built by chevrotain itself through its error message
 * provider (from the expected token types and the rule it was in), so nothing parses chevrotain's English.
 * Every message is "expected X, found Y" or, where nothing in particular was expected, "unexpected Y".
 */
import type { IParserErrorMessageProvider, IToken, TokenType } from "chevrotain";

const DECLARATION = "a declaration (data, noise, net, loss, step, state, after, train, or name = expression)";

/** How a token type reads in "expected ...". */
const WORDS: Record<string, string> = {
  RParen: "')'", LParen: "'('", RBracket: "']'", LBracket: "'['", RBrace: "'}'", LBrace: "'{'",
  Colon: "':'", Equals: "'='", Comma: "','", Identifier: "a name", NumberLiteral: "a number", StringLiteral: "a string",
  Arrow: "'->'", Minimize: "'minimize'", Over: "'over'", Dot: "'.'",
  EOF: `a new declaration (data, noise, net, loss, step, state, after, train, or name = expression)`,
};

function expectedWord(t: TokenType): string {
  return WORDS[t.name] ?? (/^[A-Z]/.test(t.name) ? `'${t.name.toLowerCase()}'` : t.name);
}

/** A token as the message names it: `name 'x'`, `number 3`, `keyword 'net'`, `'}'`, `end of input`. */
export function describeToken(t: IToken): string {
  if (t.tokenType.name === "EOF") return "end of input";
  // Error recovery inserts tokens that have no text or position.
  const image = Number.isNaN(t.startOffset) ? "" : t.image;
  if (t.tokenType.name === "Identifier") return `name '${image}'`;
  if (t.tokenType.name === "NumberLiteral") return `number ${image}`;
  if (t.tokenType.name === "StringLiteral") return `string ${image}`;
  if (/^[a-z]+$/.test(image)) return `keyword '${image}'`;
  return `'${image}'`;
}

function message(expected: string | null, actual: IToken): string {
  const found = describeToken(actual);
  return expected ? `expected ${expected}, found ${found}` : `unexpected ${found}`;
}

/** The first token of each path that can follow, in the spec's words; a long list reads as "a declaration". */
function alternatives(paths: TokenType[][]): string | null {
  const words = [...new Set(paths.filter((p) => p.length > 0).map((p) => expectedWord(p[0]!)))];
  if (words.length === 0) return null;
  return words.length <= 4 ? words.join(" or ") : DECLARATION;
}

/** Where the parser is in an expression or between declarations, the general word says more than a list. */
function byRule(ruleName: string): string | null {
  if (ruleName === "primary" || ruleName === "unary") return "an expression";
  if (ruleName === "decl") return DECLARATION;
  return null;
}

export const ganErrorMessages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, ruleName }) {
    // A list that did not close could also have gone on.
    const want = expected.name === "RParen" && ruleName === "parenArgs" ? "',' or ')'" : expected.name === "RBracket" ? "',' or ']'" : expectedWord(expected);
    return message(want, actual);
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return message(null, firstRedundant);
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }) {
    return message(byRule(ruleName) ?? alternatives(expectedPathsPerAlt.flat()) ?? "an expression", actual[0]!);
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual, ruleName }) {
    return message(byRule(ruleName) ?? alternatives(expectedIterationPaths), actual[0]!);
  },
};
