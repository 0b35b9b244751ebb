// ext-tally: a JavaScript extension (componentize-qjs, --sync) that uses the resource
// `counter` exported by ext-counter (Python) through the host.
//
// componentize-qjs binds an imported resource as a class on the interface object
// (`new lib.Counter(3)`), its methods on the instances, and releases an owned handle
// with `[Symbol.dispose]()`; a `borrow<counter>` parameter takes the object as is.
import counters from "ext:counter/lib@1.0.0";
import log from "ext:host/log@0.1.0";

function demo() {
  const c = new counters.Counter(3);
  const m = counters.make(3);
  try {
    const a = c.inc();                  // 4
    const b = c.get();                  // 4
    const d = counters.bumpTwice(m);    // 5
    const e = counters.bumpTwice(c);    // 6
    return a + b + d + e;               // 19
  } finally {
    c[Symbol.dispose]();
    m[Symbol.dispose]();
  }
}

function countTo(start, times) {
  const c = counters.make(start);
  try {
    let value = c.get();
    for (let i = 0; i < times; i++) value = c.inc();
    return value;
  } finally {
    c[Symbol.dispose]();
  }
}

export const lib = { demo, countTo };

export const lifecycle = {
  init() {
    log.log("info", "ext-tally initialized");
  },
};
