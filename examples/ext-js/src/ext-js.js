// ext-js: a JavaScript extension built with componentize-qjs (--sync).
//
// Binding conventions (componentize-qjs):
//   - each exported WIT interface is a named ES export, camelCased
//     (`ext:js/lib` -> `lib`, `ext:host/commands` -> `commands`);
//   - a top-level `result<T, E>` is returned as T, or thrown as E;
//   - option<T> is T or null; records are objects with camelCase keys;
//   - enums are strings, variants are {tag, val}, flags are objects of booleans;
//   - list<u8> is a Uint8Array (or an Array).
import log from "ext:host/log@0.1.0";

// ---------------------------------------------------------------- evaluator

const OPERATORS = "+-*/%^";

function tokenizeExpr(expr) {
  const tokens = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i];
    if (c === " " || c === "\t" || c === "\n") {
      i += 1;
    } else if ((c >= "0" && c <= "9") || c === ".") {
      let j = i;
      while (j < expr.length && ((expr[j] >= "0" && expr[j] <= "9") || expr[j] === ".")) j += 1;
      if (j < expr.length && (expr[j] === "e" || expr[j] === "E")) {
        let k = j + 1;
        if (expr[k] === "+" || expr[k] === "-") k += 1;
        if (expr[k] >= "0" && expr[k] <= "9") {
          j = k;
          while (j < expr.length && expr[j] >= "0" && expr[j] <= "9") j += 1;
        }
      }
      const text = expr.slice(i, j);
      const value = Number(text);
      if (Number.isNaN(value)) throw `invalid number '${text}' at ${i}`;
      tokens.push({ tag: "number", val: value });
      i = j;
    } else if (OPERATORS.includes(c)) {
      tokens.push({ tag: "operator", val: c });
      i += 1;
    } else if (c === "(") {
      tokens.push({ tag: "open-paren" });
      i += 1;
    } else if (c === ")") {
      tokens.push({ tag: "close-paren" });
      i += 1;
    } else {
      throw `unexpected character '${c}' at ${i}`;
    }
  }
  return tokens;
}

// expr   := term (('+' | '-') term)*
// term   := unary (('*' | '/' | '%') unary)*
// unary  := '-' unary | '+' unary | power
// power  := atom ('^' unary)?            (right-associative)
// atom   := number | '(' expr ')'
function parse(tokens) {
  let pos = 0;
  const peek = () => tokens[pos];
  const isOp = (t, ops) => t !== undefined && t.tag === "operator" && ops.includes(t.val);

  function expr() {
    let left = term();
    while (isOp(peek(), "+-")) {
      const op = tokens[pos++].val;
      const right = term();
      left = op === "+" ? left + right : left - right;
    }
    return left;
  }
  function term() {
    let left = unary();
    while (isOp(peek(), "*/%")) {
      const op = tokens[pos++].val;
      const right = unary();
      if ((op === "/" || op === "%") && right === 0) throw "division by zero";
      left = op === "*" ? left * right : op === "/" ? left / right : left % right;
    }
    return left;
  }
  function unary() {
    if (isOp(peek(), "-")) {
      pos += 1;
      return -unary();
    }
    if (isOp(peek(), "+")) {
      pos += 1;
      return unary();
    }
    return power();
  }
  function power() {
    const base = atom();
    if (isOp(peek(), "^")) {
      pos += 1;
      return Math.pow(base, unary());
    }
    return base;
  }
  function atom() {
    const t = tokens[pos++];
    if (t === undefined) throw "unexpected end of expression";
    if (t.tag === "number") return t.val;
    if (t.tag === "open-paren") {
      const v = expr();
      const close = tokens[pos++];
      if (close === undefined || close.tag !== "close-paren") throw "expected ')'";
      return v;
    }
    throw `unexpected token ${t.tag === "operator" ? `'${t.val}'` : t.tag}`;
  }

  if (tokens.length === 0) throw "empty expression";
  const value = expr();
  if (pos < tokens.length) throw `unexpected trailing input at token ${pos}`;
  return value;
}

function formatNumber(x) {
  return String(x);
}

// ---------------------------------------------------------------- ext:js/lib

export const lib = {
  evaluate(expr) {
    // result<string, string>: return the ok value, throw the error value.
    return formatNumber(parse(tokenizeExpr(expr)));
  },

  summarize(values, label) {
    let total = 0;
    for (const v of values) total += v;
    return {
      count: values.length,
      total,
      mean: values.length === 0 ? null : total / values.length,
      label: label ?? null,
    };
  },

  words(text) {
    return text.split(/\s+/).filter((w) => w.length > 0);
  },

  tokenize(expr) {
    return tokenizeExpr(expr);
  },

  classify(x) {
    if (Number.isNaN(x)) return "not-a-number";
    if (!Number.isFinite(x)) return "infinite";
    return Number.isInteger(x) ? "integer" : "fraction";
  },

  operatorsUsed(expr) {
    const flags = { add: false, sub: false, mul: false, div: false, rem: false, pow: false };
    const names = { "+": "add", "-": "sub", "*": "mul", "/": "div", "%": "rem", "^": "pow" };
    for (const t of tokenizeExpr(expr)) {
      if (t.tag === "operator") flags[names[t.val]] = true;
    }
    return flags;
  },

  encode(text) {
    // UTF-8 by hand: QuickJS has no TextEncoder.
    const out = [];
    for (const ch of text) {
      const cp = ch.codePointAt(0);
      if (cp < 0x80) out.push(cp);
      else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
      else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
      else
        out.push(
          0xf0 | (cp >> 18),
          0x80 | ((cp >> 12) & 0x3f),
          0x80 | ((cp >> 6) & 0x3f),
          0x80 | (cp & 0x3f),
        );
    }
    return new Uint8Array(out);
  },

  checksum(data) {
    let sum = 0;
    for (const b of data) sum = (sum + b) >>> 0;
    return sum;
  },
};

// ---------------------------------------------------------------- ext:host/lifecycle

let initialized = false;

export const lifecycle = {
  init() {
    initialized = true;
    log.log("info", "ext-js initialized");
  },
};

// ---------------------------------------------------------------- ext:host/commands

const COMMANDS = [
  {
    name: "eval",
    description: "Evaluate an arithmetic expression",
    args: [{ name: "expr", description: "expression, e.g. 1 + 2 * 3", required: true }],
  },
  {
    name: "sum",
    description: "Add numbers and print count, total and mean",
    args: [{ name: "numbers", description: "numbers to add", required: false }],
  },
];

export const commands = {
  listCommands() {
    return COMMANDS;
  },

  run(name, args) {
    log.log("debug", `run ${name} ${JSON.stringify(args)}${initialized ? "" : " (before init)"}`);
    switch (name) {
      case "eval":
        if (args.length === 0) throw "usage: eval EXPR";
        return lib.evaluate(args.join(" "));
      case "sum": {
        const values = args.map((a) => {
          const v = Number(a);
          if (a.trim() === "" || Number.isNaN(v)) throw `not a number: '${a}'`;
          return v;
        });
        const s = lib.summarize(values, null);
        return `count=${s.count} total=${s.total} mean=${s.mean === null ? "-" : s.mean}`;
      }
      default:
        throw `unknown command '${name}'`;
    }
  },
};
