// A starter extension in JavaScript (componentize-qjs, see README.md).
//
// Each exported WIT interface is a named export, camelCased: `my:starter/lib`
// is `lib`, `ext:host/lifecycle` is `lifecycle`. Imports are ES imports by
// their full WIT name. A top-level result<T, E> is returned as T or thrown as E.
import log from "ext:host/log@0.1.0";

export const lifecycle = {
  // init: func() -> result<_, string>; throw a string to fail loading.
  init() {
    log.log("info", "starter initialized");
  },
};

export const lib = {
  greet(name) {
    if (name.length === 0) throw "name must not be empty";
    return `Hello, ${name}!`;
  },
};
