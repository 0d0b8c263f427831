// RUN: rusty-opt %s -p 'tune-workgroups{target=mali}' --split-input-file --verify-diagnostics

// An unknown target description is refused (the error names the known ones).
// expected-error @+1 {{tune-workgroups: unknown target 'mali' (known: webgpu, apple, nvidia)}}
func.func @any() {
  func.return
}
