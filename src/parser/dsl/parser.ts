import { CstParser, type CstNode, type IToken } from "chevrotain";
import { ganErrorMessages } from "./messages.ts";
import * as T from "./tokens.ts";

/**
 * The `.gan` grammar as a chevrotain CST parser (no embedded actions; `to-ast.ts` builds the AST).
 * Each rule's JSDoc is its production in `grammar/gan.ebnf`.
 */
export class GanParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, nodeLocationTracking: "full", maxLookahead: 3, errorMessageProvider: ganErrorMessages, skipValidations: !T.VALIDATE_GRAMMAR });
    this.performSelfAnalysis();
  }

  /** spec = [ "gan" STRING ] { decl } ; */
  spec = this.RULE("spec", () => {
    this.OPTION(() => {
      this.CONSUME(T.Gan);
      this.CONSUME(T.StringLiteral);
    });
    this.MANY(() => this.SUBRULE(this.decl));
  });

  /** decl = data | noise | net | block | loss | state | step | after | train | value ; */
  decl = this.RULE("decl", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.dataDecl) },
      { ALT: () => this.SUBRULE(this.noiseDecl) },
      { ALT: () => this.SUBRULE(this.netDecl) },
      { ALT: () => this.SUBRULE(this.blockDecl) },
      { ALT: () => this.SUBRULE(this.lossDecl) },
      { ALT: () => this.SUBRULE(this.stateDecl) },
      { ALT: () => this.SUBRULE(this.stepDecl) },
      { ALT: () => this.SUBRULE(this.afterDecl) },
      { ALT: () => this.SUBRULE(this.trainDecl) },
      { ALT: () => this.SUBRULE(this.valueDecl) },
    ]);
  });

  /** data = "data" IDENT ":" IDENT [ "(" [ args ] ")" ] ; */
  dataDecl = this.RULE("dataDecl", () => {
    this.CONSUME(T.Data);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.Colon);
    this.CONSUME2(T.Identifier, { LABEL: "source" });
    this.OPTION(() => this.SUBRULE(this.parenArgs));
  });

  /** noise = "noise" IDENT ":" IDENT [ "(" [ args ] ")" ] ; */
  noiseDecl = this.RULE("noiseDecl", () => {
    this.CONSUME(T.Noise);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.Colon);
    this.CONSUME2(T.Identifier, { LABEL: "dist" });
    this.OPTION(() => this.SUBRULE(this.parenArgs));
  });

  /** net = "net" IDENT "(" [ IDENT { "," IDENT } ] ")" "{" { layer } "}" ; */
  netDecl = this.RULE("netDecl", () => {
    this.CONSUME(T.Net);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.CONSUME2(T.Identifier, { LABEL: "params" }) });
    this.CONSUME(T.RParen);
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.layer));
    this.CONSUME(T.RBrace);
  });

  /** block = "block" IDENT "(" [ blockParam { "," blockParam } ] ")" "{" { layer } "}" ; */
  blockDecl = this.RULE("blockDecl", () => {
    this.CONSUME(T.Block);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.blockParam) });
    this.CONSUME(T.RParen);
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.layer));
    this.CONSUME(T.RBrace);
  });

  /** blockParam = IDENT [ "=" expr ] ; */
  blockParam = this.RULE("blockParam", () => {
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expr);
    });
  });

  /**
   * layer = ( IDENT | "noise" ) ( "(" [ args ] ")" | { bareArg } ) [ "->" IDENT ] [ "," ] ;
   * bareArg = IDENT "=" expr | expr ;   (a positional bare argument may not start with a name)
   */
  layer = this.RULE("layer", () => {
    // `noise` is also a declaration's keyword; inside a net it is the noise-injection layer.
    this.OR1([{ ALT: () => this.CONSUME(T.Identifier, { LABEL: "op" }) }, { ALT: () => this.CONSUME(T.Noise, { LABEL: "op" }) }]);
    this.OR([
      { GATE: () => this.LA(1).tokenType === T.LParen, ALT: () => this.SUBRULE(this.parenArgs) },
      {
        ALT: () =>
          this.MANY({
            GATE: () => this.LA(1).tokenType !== T.Identifier || this.LA(2).tokenType === T.Equals,
            DEF: () => this.SUBRULE(this.bareArg),
          }),
      },
    ]);
    this.OPTION(() => {
      this.CONSUME(T.Arrow);
      this.CONSUME2(T.Identifier, { LABEL: "tap" });
    });
    this.OPTION2(() => this.CONSUME(T.Comma));
  });

  bareArg = this.RULE("bareArg", () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === T.Equals,
      DEF: () => {
        this.CONSUME(T.Identifier, { LABEL: "name" });
        this.CONSUME(T.Equals);
      },
    });
    this.SUBRULE(this.expr);
  });

  /** value = IDENT "=" expr ; */
  valueDecl = this.RULE("valueDecl", () => {
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  /** loss = "loss" IDENT "=" expr ; */
  lossDecl = this.RULE("lossDecl", () => {
    this.CONSUME(T.Loss);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  /** state = "state" IDENT "=" expr ; */
  stateDecl = this.RULE("stateDecl", () => {
    this.CONSUME(T.State);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  /** step = "step" IDENT ":" IDENT [ "(" [ args ] ")" ] "minimize" IDENT "over" IDENT { "," IDENT } [ "shared" ] ; */
  stepDecl = this.RULE("stepDecl", () => {
    this.CONSUME(T.Step);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.Colon);
    this.CONSUME2(T.Identifier, { LABEL: "optimizer" });
    this.OPTION(() => this.SUBRULE(this.parenArgs));
    this.CONSUME(T.Minimize);
    this.CONSUME3(T.Identifier, { LABEL: "loss" });
    this.CONSUME(T.Over);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME4(T.Identifier, { LABEL: "over" }) });
    this.OPTION2(() => this.CONSUME(T.Shared));
  });

  /** after = "after" IDENT ":" ( IDENT "=" expr | expr ) ; */
  afterDecl = this.RULE("afterDecl", () => {
    this.CONSUME(T.After);
    this.CONSUME(T.Identifier, { LABEL: "step" });
    this.CONSUME(T.Colon);
    this.OPTION({
      GATE: () => this.LA(2).tokenType === T.Equals,
      DEF: () => {
        this.CONSUME2(T.Identifier, { LABEL: "target" });
        this.CONSUME(T.Equals);
      },
    });
    this.SUBRULE(this.expr);
  });

  /** train = "train" "{" { IDENT "=" expr [ "," ] } "}" ; */
  trainDecl = this.RULE("trainDecl", () => {
    this.CONSUME(T.Train);
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.SUBRULE(this.namedArg);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RBrace);
  });

  namedArg = this.RULE("namedArg", () => {
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  /** parenArgs = "(" [ arg { "," arg } ] ")" ; */
  parenArgs = this.RULE("parenArgs", () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
    this.CONSUME(T.RParen);
  });

  /** arg = [ IDENT "=" ] expr ; */
  arg = this.RULE("arg", () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === T.Equals,
      DEF: () => {
        this.CONSUME(T.Identifier, { LABEL: "name" });
        this.CONSUME(T.Equals);
      },
    });
    this.SUBRULE(this.expr);
  });

  /** expr = term { ( "+" | "-" ) term } ; */
  expr = this.RULE("expr", () => {
    this.SUBRULE(this.term, { LABEL: "operands" });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus, { LABEL: "ops" }) }, { ALT: () => this.CONSUME(T.Minus, { LABEL: "ops" }) }]);
      this.SUBRULE2(this.term, { LABEL: "operands" });
    });
  });

  /** term = unary { ( "*" | "/" ) unary } ; */
  term = this.RULE("term", () => {
    this.SUBRULE(this.unary, { LABEL: "operands" });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star, { LABEL: "ops" }) }, { ALT: () => this.CONSUME(T.Slash, { LABEL: "ops" }) }]);
      this.SUBRULE2(this.unary, { LABEL: "operands" });
    });
  });

  /** unary = "-" unary | postfix ; */
  unary = this.RULE("unary", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.postfix) },
    ]);
  });

  /** postfix = primary { "." IDENT } ; */
  postfix = this.RULE("postfix", () => {
    this.SUBRULE(this.primary);
    this.MANY(() => {
      this.CONSUME(T.Dot);
      this.CONSUME(T.Identifier, { LABEL: "members" });
    });
  });

  /** primary = NUMBER | STRING | IDENT [ "(" [ args ] ")" ] | "(" expr ")" | "[" [ expr { "," expr } ] "]" ; */
  primary = this.RULE("primary", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLiteral) },
      { ALT: () => this.CONSUME(T.StringLiteral) },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.OPTION(() => this.SUBRULE(this.parenArgs));
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expr);
          this.CONSUME(T.RParen);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LBracket);
          this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE2(this.expr, { LABEL: "items" }) });
          this.CONSUME(T.RBracket);
        },
      },
    ]);
  });
}

let shared: GanParser | undefined;
/** The parser is stateless between inputs; building it (grammar analysis) is the expensive part. */
export function ganParser(): GanParser {
  return (shared ??= new GanParser());
}

export type { CstNode, IToken };
