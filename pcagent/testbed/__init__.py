"""What tests, benchmarks and the demo stand on: a private X display, real input, the sample app, the
recorder in a subprocess, and the grounding datasets captured from the sample app and real programs."""
