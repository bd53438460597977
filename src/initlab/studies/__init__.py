"""Studies: grids with their analysis (signal propagation, trainability, deep linear nets,
kernels, width scaling), the post's verdicts and the published claims."""
