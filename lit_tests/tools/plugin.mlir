// RUN: rusty-opt %s --load-pass-plugin=%S/../../docs/plugin_example/rusty_hello/__init__.py -p 'hello-strength-reduce,canonicalize' | filecheck %s
// RUN: rusty-opt --load-pass-plugin=%S/../../docs/plugin_example/rusty_hello/__init__.py --list-passes | filecheck %s --check-prefix=LIST
// RUN: not rusty-opt %s --load-pass-plugin=%S/no-such-plugin.py 2>&1 | filecheck %s --check-prefix=MISSING

// A pass and a dialect loaded from a plugin file work inside a pipeline.
// CHECK-LABEL: func.func @times8
// CHECK:         %[[K:.*]] = arith.constant 3 : i32
// CHECK:         %[[R:.*]] = arith.shli %{{.*}}, %[[K]] : i32
// CHECK:         hello.trace %[[R]] : i32
// LIST: hello-strength-reduce  [{{.*}}__init__.py]
// LIST-NEXT: Replaces integer multiplications by a power of two with left shifts.
// LIST-NEXT: max-shift: int = 31
// MISSING: rusty-opt: error: plugin file '{{.*}}no-such-plugin.py' does not exist
func.func @times8(%x: i32) -> i32 {
  %c8 = arith.constant 8 : i32
  %r = arith.muli %x, %c8 : i32
  hello.trace %r : i32
  func.return %r : i32
}
