// Checked by ../split-input-file.mlir: chunks split by '// =====' lines.
func.func @one() {
  func.return
}
// =====
func.func @two() {
  func.return
}
